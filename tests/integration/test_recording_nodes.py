"""Recording in the production topology: a web node without media (`NODE_ROLE=web`) and a
media node (`NODE_ROLE=media`) with the stage's publisher, on one PostgreSQL and Redis.

A moderator's `recording.start`/`recording.stop` on the web node reach the media node's
recorder; chapter offsets are its file time, so a publisher drop does not count. A web node
without media and without Redis refuses clearly and leaves the row alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as redis
from sqlalchemy import select

from server.platform.db import Database
from server.platform.models import Event
from server.recording.models import Recording
from tests.conftest import (
    MODERATOR,
    REDIS_URL,
    ROOT,
    LiveServer,
    free_port,
    seed,
    server_env,
    wait_for_port,
)
from tests.helpers import Browser
from tests.integration.test_recording_server import recording_rows
from tests.media import probe

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # processes, real-time media

# A media node (`serve --media-only`'s app) with a synthetic publisher on the event's stage.
# The test drops and brings back the publisher by creating and removing the file DROP_FILE.
MEDIA_NODE = """
import asyncio, os, sys
from pathlib import Path
from aiortc.mediastreams import AudioStreamTrack
from hypercorn.asyncio import serve
from hypercorn.config import Config
from server.app import create_app
from server.platform.settings import Settings
from streaming.synthetic import StampedVideoTrack

app = create_app(Settings())
drop = Path(os.environ["DROP_FILE"])

async def follow_drop_file(stage):
    session = stage.attach_source(StampedVideoTrack(320, 240, 30), AudioStreamTrack())
    while True:
        await asyncio.sleep(0.1)
        if drop.exists() and session:
            await stage.unpublish(session)
            session = None
        elif not drop.exists() and not session:
            session = stage.attach_source(StampedVideoTrack(320, 240, 30), AudioStreamTrack())

feeds = []  # keeps the task referenced while the node serves

@app.quart.before_serving
async def publish_on_stage():
    stage = app.platform.media.stage_for_event(int(os.environ["FEED_EVENT_ID"]))
    feeds.append(asyncio.create_task(follow_drop_file(stage)))

config = Config()
config.bind = [f"127.0.0.1:{sys.argv[1]}"]
asyncio.run(serve(app, config))
"""


async def _event_id(url: str) -> int:
    db = Database(url)
    async with db.session() as session:
        event = await session.scalar(select(Event).where(Event.slug == "hosten-2020"))
        assert event is not None
        event_id = event.id
    await db.close()
    return event_id


def _start_media_node(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # a file, not a pipe: an unread pipe blocks the child
        child = subprocess.Popen(
            [sys.executable, "-c", MEDIA_NODE, str(port)], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_for_port(port, child, log)
    return child


async def test_web_node_starts_marks_and_stops_the_media_nodes_recording(
    clean_db: str, tmp_path: Path
) -> None:
    r = redis.from_url(REDIS_URL)
    await r.flushdb()
    await r.aclose()
    await seed(clean_db)
    event_id = await _event_id(clean_db)
    media = tmp_path / "media"
    drop = tmp_path / "drop"
    base = server_env(clean_db, media, REDIS_URL)
    port = free_port()
    media_env = {
        **os.environ, **base, "NODE_ROLE": "media", "NODE_ID": "media-1",
        "FEED_EVENT_ID": str(event_id), "DROP_FILE": str(drop), "PYTHONPATH": str(ROOT),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    media_node = _start_media_node(media_env, port, tmp_path / "media-node.log")
    web = LiveServer({**base, "NODE_ROLE": "web", "NODE_ID": "web-1"}).start()
    mod = Browser(web.url)
    client = None
    try:
        await mod.login(*MODERATOR)
        client = await mod.connect()
        started = await client.call("recording.start", {})
        assert started["ok"], started
        assert started["state"]["recording"]
        heard = await client.wait_for("recording.state", lambda d: d["recording"])
        assert heard["recording_id"] == started["state"]["recording_id"]
        recs, _ = await recording_rows(clean_db)
        assert [(r.status, r.node_id) for r in recs] == [("recording", "media-1")]
        again = await client.call("recording.start", {})
        assert again["error"]["code"] == "recording.active"

        # Real-time media: the sleeps below are recorded seconds, measured in the file's marks.
        await asyncio.sleep(2.5)
        assert (await client.call("programme.set_current", {"item_id": 1}))["ok"]
        first_at = time.monotonic()
        drop.touch()  # the publisher goes: the media node's recorder pauses
        await client.wait_for("recording.state", lambda d: d["recording"] and d["paused"])
        assert (await client.call("recording.get"))["state"]["paused"]
        await asyncio.sleep(3.0)
        during = await client.call("recording.mark", {"title": "Under pausen"})
        assert during["ok"], during
        paused_wall = time.monotonic() - first_at
        drop.unlink()  # back: the file continues without a gap
        await client.wait_for(
            "recording.state", lambda d: d["recording"] and not d["paused"], timeout=15
        )
        await asyncio.sleep(2.0)
        assert (await client.call("programme.set_current", {"item_id": 2}))["ok"]
        await asyncio.sleep(1.0)

        stopped = await client.call("recording.stop", {})
        assert stopped["ok"], stopped
        assert not stopped["state"]["recording"]
        await client.wait_for("recording.state", lambda d: not d["recording"])
        recs, marks = await recording_rows(clean_db)
        assert recs[0].status == "stopped"  # the recorder was stopped, not given up on
        assert recs[0].duration_seconds and recs[0].duration_seconds > 4.0
        assert [m.source for m in marks] == ["programme", "manual", "programme"]
        one, pause, two = (m.offset_seconds for m in marks)
        assert one > 1.0
        # Measured by the recorder: the seconds without a publisher are not in the file.
        assert pause - one < paused_wall - 2.0
        assert one < two <= recs[0].duration_seconds + 0.5
        info = probe(media / recs[0].file_path)
        assert abs(float(info["format"]["duration"]) - recs[0].duration_seconds) < 1.0  # type: ignore[index]

        # The media node's recorder really stopped: a new recording starts cleanly there.
        restarted = await client.call("recording.start", {})
        assert restarted["ok"], restarted
        assert (await client.call("recording.stop", {}))["ok"]
        recs, _ = await recording_rows(clean_db)
        assert [r.status for r in recs] == ["stopped", "stopped"]
    finally:
        if client is not None:
            await client.close()
        await mod.close()
        web.stop()
        media_node.terminate()
        try:
            media_node.wait(15)
        except subprocess.TimeoutExpired:
            media_node.kill()
            media_node.wait()


async def test_web_node_without_media_or_redis_refuses_and_keeps_the_row(
    clean_db: str, tmp_path: Path
) -> None:
    await seed(clean_db)
    event_id = await _event_id(clean_db)
    web = LiveServer(
        {**server_env(clean_db, tmp_path / "media"), "NODE_ROLE": "web", "NODE_ID": "web-1"}
    ).start()
    mod = Browser(web.url)
    client = None
    try:
        await mod.login(*MODERATOR)
        client = await mod.connect()
        refused = await client.call("recording.start", {})
        assert refused["error"]["code"] == "recording.no_media_node"
        assert await recording_rows(clean_db) == ([], [])

        # A recording some media node runs: this node cannot reach it, so it says so.
        db = Database(clean_db)
        async with db.transaction() as session:
            session.add(Recording(event_id=event_id, file_path="recordings/x.mp4",
                                  status="recording", node_id="media-1"))
        await db.close()
        refused = await client.call("recording.stop", {})
        assert refused["error"]["code"] == "recording.no_media_node"
        recs, _ = await recording_rows(clean_db)
        assert [r.status for r in recs] == ["recording"]
    finally:
        if client is not None:
            await client.close()
        await mod.close()
        web.stop()
