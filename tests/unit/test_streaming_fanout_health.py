"""The WebRTC cap follows what the media process carries (issue 21, point 6).

The fixed WEBRTC_VIEWER_CAP stays an upper bound; below it, a stage whose fan-out falls
behind (its viewers' senders wait for frames the encoder already made, or a viewer's queue
overflowed) sends new viewers to HLS, so those already watching keep a whole picture. Here a
real stage's hub is made to fall behind by viewers whose senders stop asking for packets (as
a process too busy to send would), with real encoded packets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from streaming import MediaEngine, StreamingConfig, StreamingError
from streaming.hub import BEHIND_PACKETS, StageHub
from streaming.peers import ViewerPeer
from tests.unit.test_streaming_stage import _view


def packet(keyframe: bool) -> av.Packet:
    p = av.Packet(b"\x00\x00\x00\x01\x65" if keyframe else b"\x00\x00\x00\x01\x41")
    p.is_keyframe = keyframe
    return p


async def frames(hub: StageHub, count: int) -> None:
    for n in range(count):
        key = n % 30 == 0
        hub._fan_out_video([[packet(key)], [packet(key)]])  # both renditions


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[MediaEngine]:
    config = StreamingConfig(media_root=tmp_path, viewer_cap=100, hls_enabled=False,
                             viewer_lag_limit=0.04)  # the server's default
    async with MediaEngine(config) as running:
        yield running


async def test_a_stage_that_falls_behind_sends_new_viewers_to_hls(engine: MediaEngine) -> None:
    hub = engine.stage("main").hub
    connecting = [hub.add_viewer_track("video") for _ in range(3)]
    await frames(hub, 60)
    assert not hub.falling_behind(), "peers still connecting say nothing about the fan-out"

    busy = [hub.add_viewer_track("video") for _ in range(3)]
    for track in busy:
        track.sending = True  # connected, then their senders fall behind
    await frames(hub, 40)
    assert hub.viewer_backlog > BEHIND_PACKETS and hub.falling_behind()
    with pytest.raises(StreamingError) as caught:
        await _view(engine)
    assert caught.value.code == "stage.viewer_cap"  # the server answers 503 and names HLS

    for track in busy:  # they catch up and keep up
        while track.backlog:
            await track.recv()
    for _ in range(120):
        await frames(hub, 1)
        for track in busy:
            while track.backlog:
                await track.recv()
    assert not hub.falling_behind()
    viewer: ViewerPeer
    viewer, _ = await _view(engine)  # taken again
    await viewer.close()
    for track in connecting + busy:
        hub.remove_viewer_track(track)


async def test_an_overflow_counts_for_a_few_seconds() -> None:
    hub = StageHub(StreamingConfig(media_root=Path("/nonexistent")))
    slow = hub.add_viewer_track("video")
    slow.sending = True
    await frames(hub, 200)  # more than its queue holds: dropped, waits for a key frame
    assert slow.packets_dropped > 0 and hub.falling_behind()
    hub.remove_viewer_track(slow)


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
