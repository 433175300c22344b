"""Recording on a real server process: auto-record when the stage goes live, chapter marks
from the moderator's socket events, the banner on every page of the event, and SIGKILL
mid-recording leaving a playable file that the next start marks 'interrupted'."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from server.platform import keys
from server.platform.db import Database
from server.platform.models import Event
from server.recording.models import ChapterMark, Recording, RecordingOptions
from streaming.config import StreamingConfig
from tests.conftest import (
    MODERATOR,
    ROOT,
    SECRET,
    LiveServer,
    free_port,
    seed,
    server_env,
    wait_for_port,
)
from tests.helpers import Browser
from tests.media import probe

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # processes, real-time media

# `traffpunkt serve`'s app with a synthetic camera and microphone on the event's stage, as a
# WHIP publisher would give it (WebRTC itself is the webcast feature's test).
CHILD = """
import asyncio, os, sys
from aiortc.mediastreams import AudioStreamTrack
from hypercorn.asyncio import serve
from hypercorn.config import Config
from server.app import create_app
from server.platform.settings import Settings
from streaming.synthetic import StampedVideoTrack

app = create_app(Settings())

@app.quart.before_serving
async def publish_on_stage():
    stage = app.platform.media.stage_for_event(int(os.environ["FEED_EVENT_ID"]))
    stage.attach_source(StampedVideoTrack(320, 240, 30), AudioStreamTrack())

config = Config()
config.bind = [f"127.0.0.1:{sys.argv[1]}"]
asyncio.run(serve(app, config))
"""




async def _prepare(url: str) -> int:
    await seed(url)
    db = Database(url)
    async with db.transaction() as session:
        event = await session.scalar(select(Event).where(Event.slug == "hosten-2020"))
        session.add(RecordingOptions(event_id=event.id, auto_record=True))
        event_id = event.id
    await db.close()
    return event_id


async def recording_rows(url: str) -> tuple[list[Recording], list[ChapterMark]]:
    """The stored recordings and chapter marks, oldest first (also for test_recording_nodes)."""
    db = Database(url)
    async with db.session() as session:
        recs = list(await session.scalars(select(Recording).order_by(Recording.id)))
        marks = list(await session.scalars(select(ChapterMark).order_by(ChapterMark.id)))
    await db.close()
    return recs, marks


def _watch_for_file(folder: Path, found: list[float], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(folder.glob("*.mp4")):
            found.append(time.monotonic())
            return
        time.sleep(0.01)


def _start_child(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    log = Path(env["MEDIA_ROOT"]).parent / f"child-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:  # a file, not a pipe: an unread pipe blocks the child
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(port)], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_for_port(port, child, log)
    return child


async def test_sigkill_mid_recording_leaves_a_playable_file(clean_db: str, tmp_path: Path) -> None:
    event_id = await _prepare(clean_db)
    media = tmp_path / "media"
    port = free_port()
    env = {
        **os.environ,
        **server_env(clean_db, media),
        "NODE_ID": "media-1",
        "FEED_EVENT_ID": str(event_id),
        "PYTHONPATH": str(ROOT),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    # The recorder creates its file when it writes the first key frame: watch for it from
    # the start of the process, so "elapsed since the first key frame" is measured, not guessed.
    first_key: list[float] = []
    watcher = threading.Thread(
        target=_watch_for_file,
        args=(media / "recordings" / keys.stage_id(event_id, SECRET), first_key),
        daemon=True,
    )
    watcher.start()
    child = _start_child(env, port)
    mod = Browser(f"http://127.0.0.1:{port}")
    try:
        await mod.login(*MODERATOR)
        client = await mod.connect()
        # auto-record: the stage went live at start-up, so the recording is already running
        state = (await client.call("recording.get"))["state"]
        assert state["recording"] and state["auto_record"]
        page = (await mod.page("/e/hosten-2020")).text
        assert 'class="status-banner recording"' in page and "Scenen spelas in" in page
        for item_id in (1, 2):
            await asyncio.sleep(1.5)  # real-time media: recorded seconds between the marks
            assert (await client.call("programme.set_current", {"item_id": item_id}))["ok"]
        manual = await client.call("recording.mark", {"title": "Paneldebatt börjar"})
        assert manual["ok"] and manual["mark"]["offset"] > 2.5
        recs, _ = await recording_rows(clean_db)
        path = media / recs[0].file_path
        deadline = time.monotonic() + 20
        while path.stat().st_size < 150_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await client.close()
    finally:
        killed = time.monotonic()
        child.send_signal(signal.SIGKILL)
        child.wait()
        await mod.close()

    info = probe(path)
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}  # type: ignore[index]
    assert float(info["format"]["duration"]) > 3.0  # type: ignore[index]
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True
    )
    assert decoded.returncode == 0
    recs, marks = await recording_rows(clean_db)
    assert [r.status for r in recs] == ["recording"]  # the process died before it could say so
    assert [m.source for m in marks] == ["programme", "programme", "manual"]
    # Offsets are the recorder's file time, to a frame: the manual mark right after the
    # second programme mark may share its frame.
    assert marks[0].offset_seconds < marks[1].offset_seconds <= marks[2].offset_seconds

    # The next start of the same node finds the orphan and records what the file holds.
    server = LiveServer({**server_env(clean_db, media), "NODE_ID": "media-1"}).start()
    try:
        recs, _ = await recording_rows(clean_db)
        assert recs[0].status == "interrupted"
        assert recs[0].duration_seconds == pytest.approx(float(info["format"]["duration"]), abs=1.5)  # type: ignore[index]
        # At most the last fragment is lost (half a second of slack for the kill itself).
        assert first_key, "the recording file never appeared"
        elapsed = killed - first_key[0]
        fragment = StreamingConfig(media_root=media).record_fragment_seconds
        recovered = recs[0].duration_seconds
        assert recovered is not None and recovered >= elapsed - fragment - 0.5, (elapsed, recovered)
    finally:
        server.stop()


async def test_moderator_starts_and_stops_and_everyone_hears_it(demo_server) -> None:
    mod, part = Browser(demo_server.url), Browser(demo_server.url)
    await mod.login(*MODERATOR)
    await part.register()
    mod_client, part_client = await mod.connect(), await part.connect()
    try:
        refused = await part_client.call("recording.start", {})
        assert refused["error"]["code"] == "auth.forbidden"
        started = await mod_client.call("recording.start", {})
        assert started["ok"] and started["state"]["recording"]
        heard = await part_client.wait_for("recording.state", lambda d: d["recording"])
        assert heard["recording_id"] == started["state"]["recording_id"]
        live = (await part.page("/e/hosten-2020/live")).text
        assert 'class="status-banner recording"' in live
        again = await mod_client.call("recording.start", {})
        assert again["error"]["code"] == "recording.active"
        stopped = await mod_client.call("recording.stop", {})
        assert stopped["ok"] and not stopped["state"]["recording"]
        await part_client.wait_for("recording.state", lambda d: not d["recording"])
        assert 'class="status-banner recording"' not in (await part.page("/e/hosten-2020")).text
        unmarked = await mod_client.call("recording.mark", {"title": "Efter stopp"})
        assert unmarked["error"]["code"] == "recording.not_active"
    finally:
        await mod_client.close()
        await part_client.close()
        await mod.close()
        await part.close()
