"""Forced key frames on the stage's shared encoder are rate limited and coalesced: a crowd
joining at once or a PLI/FIR flood cannot turn the stream into a run of IDRs."""

from __future__ import annotations

import asyncio
import fractions
from pathlib import Path

import pytest
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.video.frame import VideoFrame

from streaming import StreamingConfig
from streaming.hub import KEYFRAME_MIN_INTERVAL, KeyframeGate, StageHub
from streaming.rtp_stream import PreparedFrame
from streaming.synthetic import make_frame
from streaming.tracks import PacketTrack

WINDOW = round(KEYFRAME_MIN_INTERVAL * 90000)
FRAME = 3000  # one frame at 30 fps in 90 kHz


def test_the_interval_is_in_the_intended_range() -> None:
    assert 0.3 <= KEYFRAME_MIN_INTERVAL <= 0.5


def test_first_request_is_served_at_once() -> None:
    gate = KeyframeGate(WINDOW)
    assert gate.take(0) is False  # nobody asked
    gate.request()
    assert gate.take(FRAME) is True
    assert gate.take(2 * FRAME) is False  # served: nothing pending


def test_requests_inside_the_window_coalesce_into_one_after_it() -> None:
    gate = KeyframeGate(WINDOW)
    gate.request()
    assert gate.take(0) is True
    forced = []
    for n in range(1, 60):  # two seconds of frames, every one of them asking (a PLI flood)
        gate.request()
        if gate.take(n * FRAME):
            forced.append(n * FRAME)
    gaps = [b - a for a, b in zip([0, *forced], forced, strict=False)]
    assert gaps and all(gap >= WINDOW for gap in gaps)
    assert all(gap < WINDOW + FRAME for gap in gaps)  # and never later than the next frame
    assert gate.requests == 60 and gate.forced == 1 + len(forced)


def test_a_single_request_inside_the_window_still_happens_when_it_ends() -> None:
    gate = KeyframeGate(WINDOW)
    gate.request()
    assert gate.take(0)
    gate.request()  # one viewer joins 100 ms after the last IDR
    served = [n * FRAME for n in range(1, 30) if gate.take(n * FRAME)]
    assert served == [WINDOW]  # not lost, not repeated


def test_the_encoders_own_key_frame_serves_what_is_pending() -> None:
    gate = KeyframeGate(WINDOW)
    gate.request()
    gate.keyframe_encoded(10 * FRAME)  # the GOP's key frame came anyway
    assert gate.pending is False
    gate.request()
    assert gate.take(11 * FRAME) is False  # and it starts a window of its own
    assert gate.take(10 * FRAME + WINDOW) is True


class _Camera(MediaStreamTrack):
    """A 30 fps source that asks the hub for a key frame before every frame it hands over,
    as a flood of PLIs from a crowd of viewers would."""

    kind = "video"

    def __init__(self, hub: StageHub) -> None:
        super().__init__()
        self._hub, self._index = hub, 0

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await asyncio.sleep(1 / 30)
        self._hub.request_keyframe()
        frame = make_frame(160, 120, self._index)
        frame.pts, frame.time_base = self._index * FRAME, fractions.Fraction(1, 90000)
        self._index += 1
        return frame


def _key_frames(track: PacketTrack, seen: list[int], keys: list[int]) -> None:
    """What the viewer's stream would send: every frame's timestamp, the key frames' apart."""

    def write(frame: PreparedFrame) -> None:
        seen.append(frame.timestamp)
        if frame.keyframe:
            keys.append(frame.timestamp)

    track.output = write


@pytest.mark.slow
async def test_a_pli_flood_and_a_crowd_force_at_most_one_idr_per_window(tmp_path: Path) -> None:
    hub = StageHub(StreamingConfig(media_root=tmp_path, hls_enabled=False))
    viewer = hub.add_viewer_track("video")
    seen: list[int] = []
    keys: list[int] = []
    _key_frames(viewer, seen, keys)
    camera = _Camera(hub)
    hub.source_started()
    hub.attach(camera)
    async with asyncio.timeout(60):
        while len(seen) < 75:  # 2.5 s of frames
            await asyncio.sleep(0.05)
        crowd = [hub.add_viewer_track("video") for _ in range(50)]  # 50 viewers at once
        before = len(seen)
        while len(seen) < before + 30:
            await asyncio.sleep(0.05)
    camera.stop()
    await hub.stop()

    gaps = [b - a for a, b in zip(keys, keys[1:], strict=False)]
    assert all(gap >= WINDOW for gap in gaps), gaps
    span = seen[-1] - seen[0]
    assert len(keys) <= span // WINDOW + 1
    # Coalesced requests are served, not dropped: far more key frames than the 2 s GOP gives.
    assert len(keys) >= 3
    assert hub.keyframes.requests > 100 + len(crowd)
    assert hub.video_frames_encoded >= len(seen)
