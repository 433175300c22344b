"""A media node's origin and a forwarding process (streaming/workers.py), as two engines over a
real Unix socket: viewers are placed on either, all see the one encode, sessions end on both
sides, and a lost process is forgotten."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import streaming.workers as workers_module
from streaming import MediaEngine, StreamingConfig
from streaming.peers import SyntheticPublisher, ViewerPeer
from streaming.workers import Worker, WorkerPool


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[tuple[MediaEngine, MediaEngine]]:
    """(origin, forwarding process), linked."""
    address = f"@traffpunkt-test-{secrets.token_hex(4)}"
    origin = MediaEngine(StreamingConfig(media_root=tmp_path / "o", viewer_cap=5,
                                         hls_enabled=False))
    forwarder = MediaEngine(StreamingConfig(media_root=tmp_path / "f", viewer_cap=5,
                                            hls_enabled=False))
    await origin.start()
    await origin.serve_workers(address)
    await forwarder.start()
    await forwarder.follow(address, "f1")
    assert origin.workers is not None
    async with asyncio.timeout(5):
        while not origin.workers.live() or origin.workers.live()[0].name != "f1":
            await asyncio.sleep(0.02)
    # Placement by load is tested on its own below; here the burst rule alone decides: one
    # viewer placed counts for more than any process's CPU.
    workers_module.VIEWER_COST, cost = 10.0, workers_module.VIEWER_COST
    yield origin, forwarder
    workers_module.VIEWER_COST = cost
    await forwarder.stop()
    await origin.stop()


async def _publish(engine: MediaEngine) -> SyntheticPublisher:
    publisher = SyntheticPublisher(320, 240)

    async def exchange(offer: str) -> str:
        return (await engine.stage("main").publish(offer))[1]

    await publisher.connect(exchange)
    return publisher


async def _view(engine: MediaEngine) -> tuple[ViewerPeer, str]:
    viewer = ViewerPeer()
    held: dict[str, str] = {}

    async def exchange(offer: str) -> str:
        held["id"], answer = await engine.stage("main").view(offer, "owner-1")
        return answer

    await viewer.connect(exchange)
    return viewer, held["id"]


async def _until(condition: object, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.05)


def test_placement_follows_load_and_spreads_a_burst() -> None:
    """The least loaded process first (the share of its time its fan-out takes); viewers
    placed since the last report count, so a burst is spread; a process that says it is behind
    is left out; on a tie a forwarding process goes first (the origin also encodes)."""
    pool = WorkerPool(None)  # type: ignore[arg-type]
    busy, idle = Worker(pool, None, None), Worker(pool, None, None)  # type: ignore[arg-type]
    pool.workers = [busy, idle]
    busy.busy, idle.busy = 0.45, 0.15
    assert pool.placements(0.3, 0) == [idle, None, busy]
    for _ in range(110):  # a burst lands on the idle one until it is the most loaded
        idle.recent.add()
    assert pool.placements(0.3, 0) == [None, busy, idle]
    assert pool.placements(0.3, 60) == [busy, idle, None]  # offers answered here meanwhile
    busy.behind = True
    assert pool.placements(0.3, 0) == [None, idle]
    busy.behind, busy.busy, idle.busy = False, 0.0, 0.0
    idle.recent = workers_module._Recent()
    assert pool.placements(0.0, 0)[-1] is None


async def test_viewers_on_both_processes_see_the_one_encode(
    node: tuple[MediaEngine, MediaEngine],
) -> None:
    origin, forwarder = node
    publisher = await _publish(origin)
    first, first_id = await _view(origin)  # a tie: the forwarding process goes first
    second, second_id = await _view(origin)  # now the origin has fewer
    mirror = forwarder.existing_stage("main")
    assert mirror is not None and mirror.webrtc_viewer_count == 1
    stage = origin.stage("main")
    assert stage.webrtc_viewer_count == 2
    assert stage.viewer_sessions("owner-1") == [second_id, first_id]
    for viewer in (first, second):
        await viewer.wait_video_frames(10)
        assert await viewer.wait_audio_frames(5) >= 5
    assert first.frame_size == (320, 240)
    # the forwarding process encodes nothing: the origin's packets reach its viewer
    assert mirror.hub.video_frames_encoded == 0 and stage.hub.video_frames_encoded > 0
    for peer in (first, second, publisher):
        await peer.close()


async def test_sessions_end_on_both_sides(node: tuple[MediaEngine, MediaEngine]) -> None:
    origin, forwarder = node
    publisher = await _publish(origin)
    stage = origin.stage("main")
    placed, placed_id = await _view(origin)
    mirror = forwarder.existing_stage("main")
    assert mirror is not None and mirror.webrtc_viewer_count == 1
    await placed.wait_video_frames(3)
    await stage.stop_view(placed_id)  # WHEP DELETE at the origin ends it where it runs
    await _until(lambda: mirror.webrtc_viewer_count == 0)
    assert stage.webrtc_viewer_count == 0 and not stage.hub.relays
    await placed.close()

    assert origin.workers is not None
    [worker] = origin.workers.live()
    worker.recent = workers_module._Recent()  # the first placement no longer counts
    leaving, _ = await _view(origin)
    assert mirror.webrtc_viewer_count == 1 and stage.webrtc_viewer_count == 1
    await leaving.wait_video_frames(3)
    await leaving.close()  # the browser goes away: the origin hears it from the process
    await _until(lambda: stage.webrtc_viewer_count == 0, 40)
    await publisher.close()


async def test_a_lost_process_is_forgotten_and_viewers_stay_here(
    node: tuple[MediaEngine, MediaEngine],
) -> None:
    origin, forwarder = node
    stage = origin.stage("main")
    remote, _ = await _view(origin)
    assert stage.webrtc_viewer_count == 1
    assert origin.workers is not None
    await forwarder.stop()
    await _until(lambda: not origin.workers.live() and stage.webrtc_viewer_count == 0)
    local, local_id = await _view(origin)
    assert local_id in stage.viewer_sessions("owner-1") and stage.webrtc_viewer_count == 1
    for peer in (remote, local):
        await peer.close()


async def test_a_process_that_falls_behind_resumes_at_a_key_frame(
    node: tuple[MediaEngine, MediaEngine], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the send buffer limit the origin skips the process's frames instead of growing;
    afterwards it sends again from a key frame, which it asks for, and pictures continue."""
    origin, _ = node
    publisher = await _publish(origin)
    viewer, _ = await _view(origin)
    await viewer.wait_video_frames(5)
    assert origin.workers is not None
    [worker] = origin.workers.live()
    monkeypatch.setattr(workers_module, "SEND_BUFFER_LIMIT", -1)
    await _until(lambda: worker.frames_skipped >= 10)
    asked = origin.stage("main").hub.keyframes.requests
    monkeypatch.setattr(workers_module, "SEND_BUFFER_LIMIT", 4 * 1024 * 1024)
    seen = viewer.video_frames
    await viewer.wait_video_frames(seen + 10)
    assert origin.stage("main").hub.keyframes.requests > asked
    for peer in (viewer, publisher):
        await peer.close()


@pytest.mark.skipif(os.getuid() != 0 or not Path("/usr/bin/python3").exists(),
                    reason="needs another user (and a Python it may run) to connect as")
async def test_a_process_of_another_user_cannot_join_the_node(tmp_path: Path) -> None:
    """The link's socket is abstract (no file permissions): the origin checks who connects."""
    address = f"@traffpunkt-test-{secrets.token_hex(4)}"
    origin = MediaEngine(StreamingConfig(media_root=tmp_path, hls_enabled=False))
    await origin.start()
    pool = await origin.serve_workers(address)
    script = ("import socket; s = socket.socket(socket.AF_UNIX); "
              f"s.connect('\\0{address[1:]}'); print(len(s.recv(10)))")
    stranger = await asyncio.create_subprocess_exec(
        "/usr/bin/python3", "-c", script, user=65534, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(stranger.communicate(), 10)
    assert out.strip() == b"0", "the origin hung up at once"
    assert not pool.workers
    await origin.stop()
