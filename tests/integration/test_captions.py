"""Live captions: a captioner (a staff role made with the CLI) types, everyone in the event sees
the line; nobody else may caption; lines survive a restart; the archive gets them as WebVTT
in recording time, which ffprobe reads and the publication can take as its captions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server.captions.models import CaptionLine
from server.platform.models import utcnow
from server.platform.programme import get_event
from server.recording.models import Publication, Recording
from tests.conftest import MODERATOR, ROOT, LiveServer, seed, server_env
from tests.integration.test_publication_flow import login, staff
from tests.integration.test_qa_sockets import person

CAPTIONER = ("skrivtolk", "skrivtolkens-lösenord-1")


def create_captioner(database_url: str) -> None:
    """`traffpunkt create-user --role captioner`, as an operator runs it."""
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "x",
           "TRAFFPUNKT_ENV": "test", "PW": CAPTIONER[1]}
    made = subprocess.run(
        [sys.executable, "-m", "server.cli", "create-user", CAPTIONER[0], "--role", "captioner",
         "--name", "Eva Skrivtolk", "--password-env", "PW"],
        cwd=ROOT, text=True, capture_output=True, env=env, timeout=60,
    )
    assert made.returncode == 0, made.stderr


@pytest.mark.slow
async def test_the_captioners_lines_reach_everyone_and_survive_a_restart(
    clean_db: str, tmp_path: Path
) -> None:
    await seed(clean_db)
    create_captioner(clean_db)
    env = server_env(clean_db, tmp_path / "media")
    server = LiveServer(env).start()
    try:
        url = server.url
        async with person(url, "Karin Lund") as (viewer_browser, viewer), \
                person(url, login=MODERATOR) as (_, mod), \
                person(url, login=CAPTIONER) as (captioner_browser, captioner):
            sent = await captioner.call(
                "captions.send", {"text": "  Välkomna till   Träffpunkt\n<b>biblioteksplaner</b> "})
            assert sent["ok"], sent
            expected = "Välkomna till Träffpunkt <b>biblioteksplaner</b>"
            assert sent["line"]["text"] == expected, "whitespace folded, text kept as typed"
            for client in (viewer, mod):
                line = await client.wait_for("captions.line")
                assert line["text"] == expected
            refused = {
                "participant": await viewer.call("captions.send", {"text": "Jag också"}),
                "empty": await captioner.call("captions.send", {"text": " \n\t "}),
                "too long": await captioner.call("captions.send", {"text": "å" * 301}),
                "not text": await captioner.call("captions.send", {"text": 42}),
                "extra": await captioner.call("captions.send", {"text": "Hej", "html": True}),
            }
            codes = {k: v["error"]["code"] for k, v in refused.items()}
            assert codes == {"participant": "auth.forbidden", "empty": "captions.text_invalid",
                             "too long": "captions.text_invalid", "not text": "payload.invalid",
                             "extra": "payload.invalid"}
            assert (await captioner.call("captions.send", {"text": "å" * 300}))["ok"]
            await captioner.call("captions.send", {"text": "Kontrolltecken\u0007 och\u200b noll"})
            page = await captioner_browser.http.get("/e/hosten-2020/captions")
            assert page.status_code == 200 and 'for="caption-text"' in page.text
            assert (await viewer_browser.http.get("/e/hosten-2020/captions")).status_code == 403
        server.stop()
        server = LiveServer(env).start()
        async with person(server.url, "Per Holm") as (_, late):
            recent = await late.call("captions.recent", {})
        assert [line["text"] for line in recent["lines"]] == [
            expected, "å" * 300, "Kontrolltecken och noll"], "stored, in order, after a restart"
    finally:
        server.stop()


async def _recording_with_lines(app: Any) -> int:
    """A stopped recording of 60 s, with lines typed before, during and after it."""
    async with app.platform.db.transaction() as db:
        event = await get_event(db, "hosten-2020")
        began = utcnow() - timedelta(minutes=5)
        rec = Recording(event_id=event.id, file_path="recordings/none.mp4", status="stopped",
                        started_at=began, stopped_at=began + timedelta(seconds=60),
                        duration_seconds=60.0)
        db.add(rec)
        for seconds, text in ((-3, "Före inspelningen"), (2, "Välkomna, alla bibliotek!"),
                              (4, "Planer & uppföljning <§ 18>"), (30, "Frågor från salen"),
                              (75, "Efter inspelningen")):
            db.add(CaptionLine(event_id=event.id, text=text,
                               created_at=began + timedelta(seconds=seconds)))
        await db.flush()
        return rec.id


def _ffprobe_cues(path: Path) -> list[tuple[float, float]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=pts_time,duration_time",
         "-of", "json", str(path)], check=True, capture_output=True, text=True).stdout
    return [(float(p["pts_time"]), float(p["duration_time"])) for p in json.loads(out)["packets"]]


@pytest.mark.integration
async def test_the_archive_gets_the_recordings_lines_as_webvtt_and_can_use_them(
    app, client, tmp_path: Path
) -> None:
    recording_id = await _recording_with_lines(app)
    await staff(app.platform, "arkivarie", "archivist")
    csrf = await login(client, "arkivarie")
    page = (await (await client.get(f"/archive/recordings/{recording_id}")).get_data()).decode()
    assert "Skrivtolken skrev 3 rader" in page
    got = await client.get(f"/archive/recordings/{recording_id}/live-captions.vtt")
    assert got.status_code == 200 and got.content_type.startswith("text/vtt")
    vtt = (await got.get_data()).decode()
    assert "Planer &amp; uppföljning &lt;§ 18&gt;" in vtt, "cue text escaped, not markup"
    assert "Före inspelningen" not in vtt and "Efter inspelningen" not in vtt
    path = tmp_path / "live.vtt"
    path.write_text(vtt, encoding="utf-8")
    assert _ffprobe_cues(path) == [(2.0, 2.0), (4.0, 6.0), (30.0, 6.0)], (
        "each line from when it was sent until the next, at most 6 s, on the recording's clock")

    used = await client.post(f"/archive/recordings/{recording_id}/live-captions",
                             form={"csrf_token": csrf})
    assert used.status_code == 200 and "3 repliker" in (await used.get_data()).decode()
    async with app.platform.db.session() as db:
        pub = await db.scalar(select(Publication).where(Publication.recording_id == recording_id))
    assert pub is not None and pub.captions_vtt == vtt


@pytest.mark.integration
async def test_live_captions_are_the_archivists_and_a_silent_recording_has_none(
    app, client
) -> None:
    recording_id = await _recording_with_lines(app)
    async with app.platform.db.transaction() as db:
        event = await get_event(db, "hosten-2020")
        quiet = Recording(event_id=event.id, file_path="recordings/none.mp4", status="stopped",
                          started_at=utcnow() - timedelta(days=2),
                          stopped_at=utcnow() - timedelta(days=2) + timedelta(minutes=1))
        db.add(quiet)
        await db.flush()
        quiet_id = quiet.id
    await staff(app.platform, "moderatorn", "moderator")
    moderator = app.quart.test_client()
    await login(moderator, "moderatorn")
    assert (await moderator.get(
        f"/archive/recordings/{recording_id}/live-captions.vtt")).status_code == 403
    await staff(app.platform, "arkivarie", "archivist")
    csrf = await login(client, "arkivarie")
    silent = await client.get(f"/archive/recordings/{quiet_id}/live-captions.vtt")
    assert silent.status_code == 404
    page = await client.post(f"/archive/recordings/{quiet_id}/live-captions",
                             form={"csrf_token": csrf})
    assert page.status_code == 404
    assert "Ingen direkttextning skrevs" in (await page.get_data()).decode()

