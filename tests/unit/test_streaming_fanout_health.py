"""The WebRTC cap follows what the media process carries (issue 21, point 6).

The fixed WEBRTC_VIEWER_CAP stays an upper bound; below it, a stage whose fan-out takes most
of the process's time (sending each viewer's packets happens on the event loop, at once) sends
new viewers to HLS, so those already watching keep a whole picture. Here a real stage's hub
is made busy by viewers whose sending is slow, at 30 frames a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from streaming import MediaEngine, StreamingConfig, StreamingError
from streaming.hub import BEHIND_SHARE, StageHub
from streaming.peers import ViewerPeer
from tests.unit.test_streaming_stage import _view


def packet(keyframe: bool) -> av.Packet:
    p = av.Packet(b"\x00\x00\x00\x01\x65" if keyframe else b"\x00\x00\x00\x01\x41")
    p.is_keyframe = keyframe
    p.pts = 0
    return p


async def frames(hub: StageHub, count: int) -> None:
    """``count`` frames at 30 fps (as the encoder makes them), in both renditions."""
    start = time.monotonic()
    for n in range(count):
        key = n % 30 == 0
        hub._fan_out_video([[packet(key)], [packet(key)]])
        await asyncio.sleep(max(0.0, start + (n + 1) / 30 - time.monotonic()))


def slow(_frame: object) -> None:
    """A viewer whose packets take 8 ms to send (a process at its limit)."""
    until = time.perf_counter() + 0.008
    while time.perf_counter() < until:
        pass


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[MediaEngine]:
    config = StreamingConfig(media_root=tmp_path, viewer_cap=100, hls_enabled=False,
                             viewer_lag_limit=0.04)  # the server's default
    async with MediaEngine(config) as running:
        yield running


async def test_a_stage_that_falls_behind_sends_new_viewers_to_hls(engine: MediaEngine) -> None:
    hub = engine.stage("main").hub
    quick = [hub.add_viewer_track("video") for _ in range(3)]
    sent: list[object] = []
    for track in quick:
        track.output = sent.append
    await frames(hub, 40)
    assert sent and not hub.falling_behind()

    busy = [hub.add_viewer_track("video") for _ in range(3)]
    for track in busy:
        track.output = slow  # 24 ms of every 33 ms frame goes to sending
    await frames(hub, 60)
    assert hub.fan_out_busy > BEHIND_SHARE and hub.falling_behind()
    with pytest.raises(StreamingError) as caught:
        await _view(engine)
    assert caught.value.code == "stage.viewer_cap"  # the server answers 503 and names HLS

    for track in busy:  # they leave; the fan-out is quick again
        hub.remove_viewer_track(track)
    await frames(hub, 60)
    assert not hub.falling_behind()
    viewer: ViewerPeer
    viewer, _ = await _view(engine)  # taken again
    await viewer.close()
    for track in quick:
        hub.remove_viewer_track(track)


async def test_a_lagging_media_process_sends_new_viewers_to_hls(engine: MediaEngine) -> None:
    """The event loop that sends every viewer's packets runs late (a process at its limit):
    new viewers are refused before the picture of those watching breaks up."""
    import time

    lag = engine.loop_lag
    now = time.monotonic()
    for n in range(200):  # five seconds of wake-ups, 3 % of them 60 ms late
        lag.note(now + n * 0.02, 0.06 if n % 33 == 0 else 0.001)
    assert lag.behind()
    with pytest.raises(StreamingError) as caught:
        await _view(engine)
    assert caught.value.code == "stage.viewer_cap"
    for n in range(200, 500):  # keeping up again, and the late ones out of the window
        lag.note(now + n * 0.02, 0.001)
    assert not lag.behind()


async def test_a_big_fan_out_lets_the_loop_breathe_and_keeps_each_viewers_order(
    engine: MediaEngine,
) -> None:
    """A key frame to hundreds of viewers is sent in slices of SEND_SLICE, with the event loop
    running between them (a timer due meanwhile fires before the fan-out ends); every viewer
    still gets the frames whole and in order, and a backlog past BACKLOG_BEHIND says behind."""
    from streaming import hub as hub_module

    hub = engine.stage("main").hub
    tracks = [hub.add_viewer_track("video") for _ in range(200)]
    got: dict[int, list[int]] = {i: [] for i in range(len(tracks))}
    for i, track in enumerate(tracks):
        track.output = lambda frame, i=i: (slow_a_little(), got[i].append(frame.timestamp))
    ticks: list[float] = []
    asyncio.get_running_loop().call_soon(lambda: ticks.append(time.perf_counter()))
    started = time.perf_counter()
    first, second = packet(True), packet(False)
    first.pts, second.pts = 3000, 6000
    hub._fan_out_video([[first], [first]])
    hub._fan_out_video([[second], [second]])  # queued behind the first, not beside it
    assert hub._sends, "the fan-out goes on after the loop ran"
    assert hub.falling_behind() is (len(hub._sends) > hub_module.BACKLOG_BEHIND)
    async with asyncio.timeout(10):
        while hub._sends:
            await asyncio.sleep(0.001)
    assert ticks and ticks[0] - started < 0.05, "the loop ran while the fan-out went on"
    assert all(stamps == [3000, 6000] for stamps in got.values())


def slow_a_little() -> None:
    until = time.perf_counter() + 0.0002  # 200 viewers: 40 ms a frame
    while time.perf_counter() < until:
        pass
