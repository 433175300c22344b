"""A stage between real aiortc peers in process: publish, view, fan-out, errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiortc.mediastreams import AudioStreamTrack

import streaming.stage as stage_module
from streaming import MediaEngine, Stage, StageEvent, StreamingConfig, StreamingError
from streaming.peers import SyntheticPublisher, ViewerPeer
from streaming.stage import EVICT_AFTER_SECONDS, HLS_PLAYERS_PER_OWNER, SILENCE_SECONDS
from streaming.synthetic import StampedVideoTrack


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[MediaEngine]:
    config = StreamingConfig(media_root=tmp_path, viewer_cap=2, hls_enabled=False)
    async with MediaEngine(config) as running:
        yield running


async def _publish(engine: MediaEngine, size: tuple[int, int] = (320, 240)
                   ) -> tuple[SyntheticPublisher, str]:
    publisher = SyntheticPublisher(*size)
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
    # One H.264 encoder per rendition and one Opus encoder for the stage, whatever the audience.
    assert hub.encoders_created == len(engine.config.renditions) + 1 == 3
    assert hub.video_frames_encoded <= hub.frames_received
    assert first.frame_size == (320, 240)
    for peer in (first, second, publisher):
        await peer.close()


async def test_a_viewer_moves_between_renditions_without_renegotiating(
    engine: MediaEngine
) -> None:
    """The hub moves a viewer to 360p at its next key frame and back to 720p: the same peer
    connection, the decoder follows the new size, frames never stop."""
    publisher, _ = await _publish(engine, (640, 480))  # 640x480 and 480x360
    viewer, _ = await _view(engine)
    await viewer.wait_video_frames(5)
    assert viewer.frame_size == (640, 480)
    hub = engine.stage("main").hub
    [track] = hub.video_tracks
    for rendition, size in ((1, (480, 360)), (0, (640, 480))):
        hub.switch(track, rendition)
        assert hub.viewers_per_rendition() == [1 - rendition, rendition]
        async with asyncio.timeout(10):
            while viewer.frame_size != size:
                await asyncio.sleep(0.05)
        await viewer.wait_video_frames(viewer.video_frames + 10)
        assert viewer.frame_size == size and track.switch_to is None
    for peer in (viewer, publisher):
        await peer.close()


async def test_viewer_hears_audio(engine: MediaEngine) -> None:
    publisher, _ = await _publish(engine)
    viewer, _ = await _view(engine)
    await viewer.wait_video_frames(5)
    assert await viewer.wait_audio_frames(5) >= 5, "Opus frames decoded alongside the video"
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


def _go_silent(publisher: SyntheticPublisher) -> None:
    """The publisher's media stops as after a crash or a lost network: no WHIP DELETE, no
    close, the peer connection stays up (RTCP and ICE consent carry on); only RTP stops."""
    for sender in publisher.pc.getSenders():
        track = sender.track
        sender.replaceTrack(None)  # the sender idles: it sends no more RTP
        if track is not None:
            track.stop()


async def _until(predicate: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``predicate`` holds (polled), failing after ``timeout``."""
    start = time.monotonic()
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)
    return time.monotonic() - start


@pytest.mark.slow
async def test_a_silent_publisher_goes_offline_and_a_new_one_takes_over(tmp_path: Path) -> None:
    events: list[StageEvent] = []
    config = StreamingConfig(media_root=tmp_path, hls_enabled=False)
    async with MediaEngine(config, listener=events.append) as engine:
        stage = engine.stage("main")
        publisher, _ = await _publish(engine)
        viewer, _ = await _view(engine)
        await viewer.wait_video_frames(5)
        _go_silent(publisher)
        # The watchdog, not ICE consent (~30 s), notices: about SILENCE_SECONDS later.
        waited = await _until(lambda: not stage.live, timeout=SILENCE_SECONDS + 4)
        assert waited >= SILENCE_SECONDS - 0.5
        assert events[-1].kind == "stage.offline" and events[-1].viewer_count == 1
        assert stage.viewer_count == 1  # the viewer keeps its session
        comeback, _ = await _publish(engine)  # not 409: the silent one is evicted
        assert stage.live
        await viewer.wait_video_frames(10, timeout=5)
        assert [e.kind for e in events].count("stage.live") == 2
        for peer in (viewer, comeback, publisher):
            await peer.close()


async def test_an_offer_evicts_a_publisher_silent_for_a_second(engine: MediaEngine) -> None:
    stage = engine.stage("main")
    publisher, _ = await _publish(engine)
    await _until(lambda: stage.hub.frames_received > 5, timeout=20)
    _go_silent(publisher)
    await asyncio.sleep(EVICT_AFTER_SECONDS + 0.3)  # the eviction threshold is what is tested
    assert stage.live  # the watchdog (SILENCE_SECONDS) has not fired: this is the take-over
    comeback, _ = await _publish(engine)
    assert stage.live
    received = stage.hub.frames_received
    await _until(lambda: stage.hub.frames_received > received + 5, timeout=20)
    await comeback.close()
    await publisher.close()


async def test_a_sending_publisher_still_gets_busy(engine: MediaEngine) -> None:
    stage = engine.stage("main")
    publisher, _ = await _publish(engine)
    await _until(lambda: stage.hub.frames_received > 5, timeout=20)
    await asyncio.sleep(EVICT_AFTER_SECONDS + 0.5)  # past the threshold, yet still sending
    with pytest.raises(StreamingError) as caught:
        await _publish(engine)
    assert caught.value.code == "stage.busy"
    assert stage.live
    await publisher.close()


@pytest.mark.slow
async def test_a_stalled_publisher_that_sends_again_is_live_again(tmp_path: Path) -> None:
    events: list[StageEvent] = []
    config = StreamingConfig(media_root=tmp_path, hls_enabled=False)
    async with MediaEngine(config, listener=events.append) as engine:
        stage = engine.stage("main")
        publisher, _ = await _publish(engine)
        viewer, _ = await _view(engine)
        await viewer.wait_video_frames(5)
        senders = publisher.pc.getSenders()
        for sender in senders:  # a network outage: nothing is sent, nothing is closed
            sender.replaceTrack(None)
        await _until(lambda: not stage.live, timeout=SILENCE_SECONDS + 4)
        video = next(s for s in senders if s.kind == "video")
        audio = next(s for s in senders if s.kind == "audio")
        video.replaceTrack(StampedVideoTrack())
        audio.replaceTrack(AudioStreamTrack())
        await _until(lambda: stage.live, timeout=5)
        await viewer.wait_video_frames(10, timeout=5)
        assert [e.kind for e in events if e.kind != "stage.viewers"] == [
            "stage.live", "stage.offline", "stage.live"]
        await viewer.close()
        await publisher.close()


async def test_hls_players_count_as_viewers(tmp_path: Path) -> None:
    events: list[StageEvent] = []
    stage = Stage("main", StreamingConfig(media_root=tmp_path), events.append)
    stage.hls_heartbeat("tab-1", "participant:1")
    stage.hls_heartbeat("tab-1", "participant:1")  # the same player again: still one
    stage.hls_heartbeat("tab-2", "participant:2")
    assert (stage.viewer_count, stage.hls_viewer_count, stage.webrtc_viewer_count) == (2, 2, 0)
    assert (events[-1].viewer_count, events[-1].hls_viewers) == (2, 2)
    stage.hls_leave("tab-2", "participant:1")  # not theirs: ignored
    assert stage.hls_viewer_count == 2
    stage.hls_leave("tab-2", "participant:2")
    assert stage.hls_viewer_count == 1
    for n in range(10):  # one person cannot inflate the count
        stage.hls_heartbeat(f"many-{n}", "participant:3")
    assert stage.hls_viewer_count == 1 + HLS_PLAYERS_PER_OWNER
    await stage.close()


async def test_hls_players_expire_without_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage_module, "HLS_VIEWER_TTL", 0.5)
    events: list[StageEvent] = []
    stage = Stage("main", StreamingConfig(media_root=tmp_path), events.append)
    stage.hls_heartbeat("tab-1", "participant:1")
    assert stage.viewer_count == 1
    await _until(lambda: bool(events) and events[-1].viewer_count == 0, timeout=5)
    assert stage.viewer_count == 0
    await stage.close()
