"""A WebRTC session whose ICE and DTLS never complete is closed after `connect_timeout` and
stops holding a place under the viewer cap; a connected session is never closed by it. Real
aiortc peers in process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from streaming import MediaEngine, StageEvent, StreamingConfig, StreamingError
from streaming.peers import SyntheticPublisher, ViewerPeer

TIMEOUT = 1.0


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[MediaEngine]:
    config = StreamingConfig(media_root=tmp_path, viewer_cap=1, hls_enabled=False,
                             connect_timeout=TIMEOUT)
    async with MediaEngine(config) as running:
        yield running


async def _until(condition: Callable[[], bool], deadline: float = 5.0) -> float:
    """Seconds until `condition()` held (checked every 20 ms), failing after `deadline`."""
    start = time.monotonic()
    async with asyncio.timeout(deadline):
        while not condition():
            await asyncio.sleep(0.02)
    return time.monotonic() - start


async def _offer(peer: ViewerPeer | SyntheticPublisher) -> str:
    """An offer whose answer is never applied: the peer never answers the server's ICE."""
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    return str(peer.pc.localDescription.sdp)


@pytest.mark.slow
async def test_a_viewer_that_never_connects_is_closed_and_frees_its_place(
    engine: MediaEngine,
) -> None:
    stage = engine.stage("main")
    silent, waiting = ViewerPeer(), ViewerPeer()
    session_id, _ = await stage.view(await _offer(silent), "someone")
    assert stage.webrtc_viewer_count == 1
    with pytest.raises(StreamingError) as full:  # the cap is 1, and the silent one holds it
        await stage.view(await _offer(ViewerPeer()))
    assert full.value.code == "stage.viewer_cap"

    waited = await _until(lambda: stage.webrtc_viewer_count == 0)
    assert waited < TIMEOUT + 1.0
    assert stage.viewer_sessions("someone") == []
    with pytest.raises(StreamingError):  # gone, not merely uncounted
        await stage.stop_view(session_id)

    publisher = SyntheticPublisher()

    async def publish(offer: str) -> str:
        return (await stage.publish(offer))[1]

    async def view(offer: str) -> str:
        return (await stage.view(offer))[1]

    await publisher.connect(publish)
    await waiting.connect(view)  # the place is free again
    # A connected viewer outlives the timeout: frames keep coming well past it.
    await waiting.wait_video_frames(1)
    connected_at = time.monotonic()
    while time.monotonic() - connected_at < TIMEOUT + 0.5:
        await waiting.wait_video_frames(5)
    assert stage.webrtc_viewer_count == 1
    for peer in (silent, waiting, publisher):
        await peer.close()


async def test_a_publisher_that_never_connects_releases_the_stage(tmp_path: Path) -> None:
    events: list[StageEvent] = []
    config = StreamingConfig(media_root=tmp_path, hls_enabled=False, connect_timeout=TIMEOUT)
    async with MediaEngine(config, listener=events.append) as engine:
        stage = engine.stage("main")
        ghost = SyntheticPublisher()
        await stage.publish(await _offer(ghost))
        assert stage.live
        # Well before the silence watch (3 s grace + 2 s) would call it offline.
        waited = await _until(lambda: not stage.live, deadline=3.0)
        assert waited < TIMEOUT + 1.0
        assert [e.kind for e in events] == ["stage.live", "stage.offline"]
        publisher = SyntheticPublisher()

        async def publish(offer: str) -> str:
            return (await stage.publish(offer))[1]

        await publisher.connect(publish)  # the stage is free: no stage.busy
        assert stage.live
        await ghost.close()
        await publisher.close()
