"""A venue's encoder that is not OBS or a browser (issue 21, point 3): GStreamer's webrtcbin
(Debian 12's GStreamer 1.22, which presents an RSA DTLS certificate) publishes over WHIP to a
real `traffpunkt serve`, with H.264 and with VP8. The stage goes live and its HLS, read by
ffprobe, holds the 1280x720 picture (H.264, as every viewer gets it) and the sound (AAC).
Before aiortc offered ECDHE-RSA suites this publisher got `201`, ICE, then "no shared cipher".
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import MODERATOR, ROOT, SECRET

pytestmark = pytest.mark.slow  # a real server, GStreamer and a few seconds of media each

GST_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gi (scripts/setup.sh --test)


async def stage_token(url: str) -> tuple[str, int]:
    from server.platform import programme as events
    from server.platform.auth import Principal
    from server.platform.db import Database
    from server.platform.models import User
    from server.webcast.service import rotate_token

    db = Database(url)
    try:
        async with db.transaction() as session:
            event = await events.get_event(session, "hosten-2020")
            moderator = (await session.scalars(
                select(User).where(User.username == MODERATOR[0]))).one()
            token, _ = await rotate_token(
                session, Principal("user", moderator.id, moderator.display_name, "moderator"),
                event.id)
            return token, event.id
    finally:
        await db.close()


def streams(segment: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height",
         "-of", "json", str(segment)], check=True, capture_output=True, text=True).stdout
    return sorted(json.loads(out)["streams"], key=lambda s: str(s["codec_type"]))


@pytest.mark.parametrize("codec", ["h264", "vp8"])
async def test_a_gstreamer_encoder_goes_live_over_whip(demo_server, clean_db, codec) -> None:  # type: ignore[no-untyped-def]
    from server.platform import keys

    assert shutil.which("gst-inspect-1.0"), "GStreamer is installed by scripts/setup.sh --test"
    token, event_id = await stage_token(clean_db)
    publisher = await asyncio.create_subprocess_exec(
        GST_PYTHON, str(ROOT / "tests" / "gst_whip.py"), f"{demo_server.url}/whip/hosten-2020",
        token, codec, "8", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(publisher.communicate(), 60)
    said = out.decode(errors="replace")
    assert publisher.returncode == 0 and "connection connected" in said, said[-2000:]
    assert "whip 201" in said

    hls = demo_server.media / "hls" / keys.stage_id(event_id, SECRET)
    segments = sorted(hls.glob("720p_*.ts"))  # the best rendition: the picture as sent
    assert len(segments) >= 2, f"no HLS from the stage: {segments}"
    assert streams(segments[-2]) == [  # the last full segment
        {"codec_type": "audio", "codec_name": "aac"},
        {"codec_type": "video", "codec_name": "h264", "width": 1280, "height": 720},
    ]
