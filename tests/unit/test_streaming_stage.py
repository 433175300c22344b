"""A stage between real aiortc peers in process: publish, view, fan-out, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streaming import MediaEngine, StageEvent, StreamingConfig, StreamingError
from streaming.peers import SyntheticPublisher, ViewerPeer


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[MediaEngine]:
    config = StreamingConfig(media_root=tmp_path, viewer_cap=2, hls_enabled=False)
    async with MediaEngine(config) as running:
        yield running


async def _publish(engine: MediaEngine) -> tuple[SyntheticPublisher, str]:
    publisher = SyntheticPublisher()
    stage = engine.stage("main")
    session: dict[str, str] = {}

    async def exchange(offer: str) -> str:
        session["id"], answer = await stage.publish(offer)
        return answer

    await publisher.connect(exchange)
    return publisher, session["id"]


async def _view(engine: MediaEngine) -> tuple[ViewerPeer, str]:
    viewer = ViewerPeer()
    stage = engine.stage("main")
    session: dict[str, str] = {}

    async def exchange(offer: str) -> str:
        session["id"], answer = await stage.view(offer)
        return answer

    await viewer.connect(exchange)
    return viewer, session["id"]


async def test_two_viewers_get_frames_from_one_encode(engine: MediaEngine) -> None:
    publisher, _ = await _publish(engine)
    first, _ = await _view(engine)
    second, _ = await _view(engine)
    await first.wait_video_frames(10)
    await second.wait_video_frames(10)
    hub = engine.stage("main").hub
    # One H.264 and one Opus encoder for the stage, whatever the audience.
    assert hub.encoders_created == 2
    assert hub.video_frames_encoded <= hub.frames_received
    assert first.frame_size == (320, 240)
    for peer in (first, second, publisher):
        await peer.close()


async def test_viewer_hears_audio(engine: MediaEngine) -> None:
    publisher, _ = await _publish(engine)
    viewer, _ = await _view(engine)
    await viewer.wait_video_frames(5)
    assert viewer.audio_frames > 0
    await viewer.close()
    await publisher.close()


async def test_second_publisher_is_refused(engine: MediaEngine) -> None:
    publisher, _ = await _publish(engine)
    with pytest.raises(StreamingError) as caught:
        await _publish(engine)
    assert caught.value.code == "stage.busy"
    await publisher.close()


async def test_viewer_over_cap_is_refused(engine: MediaEngine) -> None:
    viewers = [(await _view(engine))[0] for _ in range(2)]
    with pytest.raises(StreamingError) as caught:
        await _view(engine)
    assert caught.value.code == "stage.viewer_cap"
    assert engine.stage("main").viewer_count == 2
    for viewer in viewers:
        await viewer.close()


async def test_viewer_keeps_receiving_when_publisher_comes_back(engine: MediaEngine) -> None:
    stage = engine.stage("main")
    publisher, session_id = await _publish(engine)
    viewer, _ = await _view(engine)
    await viewer.wait_video_frames(5)
    await stage.unpublish(session_id)
    await publisher.close()
    assert not stage.live
    comeback, _ = await _publish(engine)
    await viewer.wait_video_frames(10)
    assert stage.live and stage.viewer_count == 1
    await viewer.close()
    await comeback.close()


async def test_listener_hears_live_viewers_offline(tmp_path: Path) -> None:
    events: list[StageEvent] = []
    config = StreamingConfig(media_root=tmp_path, hls_enabled=False)
    async with MediaEngine(config, listener=events.append) as engine:
        publisher, session_id = await _publish(engine)
        viewer, viewer_id = await _view(engine)
        await engine.stage("main").stop_view(viewer_id)
        await engine.stage("main").unpublish(session_id)
        await viewer.close()
        await publisher.close()
    kinds = [(e.kind, e.live, e.viewer_count) for e in events]
    assert kinds == [
        ("stage.live", True, 0),
        ("stage.viewers", True, 1),
        ("stage.viewers", True, 0),
        ("stage.offline", False, 0),
    ]


async def test_unknown_session_is_not_found(engine: MediaEngine) -> None:
    with pytest.raises(StreamingError) as caught:
        await engine.stage("main").stop_view("nope")
    assert caught.value.code == "session.not_found"
