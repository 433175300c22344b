"""Synthetic media sources for tests, benchmarks and rehearsals without a camera.

:class:`StampedVideoTrack` draws moving stripes and writes its capture time
(milliseconds) into the top-left corner as 32 black/white blocks that survive
H.264 compression; :func:`read_stamp` reads it back from a decoded frame, which
gives glass-to-glass latency without sharing anything but the clock.
"""

from __future__ import annotations

import asyncio
import fractions
import time

from aiortc import VideoStreamTrack
from aiortc.mediastreams import VIDEO_CLOCK_RATE, MediaStreamError
from av.video.frame import VideoFrame

__all__ = ["StampedVideoTrack", "make_frame", "read_stamp"]

_BLOCK = 16
_COLUMNS = 8
_BITS = 32
_PATTERNS = 30


def _luma_pattern(width: int, height: int, shift: int) -> bytes:
    row = bytes((x * 2 + shift * 8) % 200 + 30 for x in range(width))
    return row * height


def _stamp(luma: bytearray, width: int, value: int) -> None:
    for bit in range(_BITS):
        shade = b"\xeb" if value >> bit & 1 else b"\x10"
        top, left = (bit // _COLUMNS) * _BLOCK, (bit % _COLUMNS) * _BLOCK
        for y in range(top, top + _BLOCK):
            start = y * width + left
            luma[start : start + _BLOCK] = shade * _BLOCK


def make_frame(width: int, height: int, index: int, stamp_ms: int | None = None) -> VideoFrame:
    """One yuv420p frame of the moving pattern, optionally stamped with ``stamp_ms``."""
    luma = bytearray(_luma_pattern(width, height, index % _PATTERNS))
    if stamp_ms is not None:
        _stamp(luma, width, stamp_ms & 0xFFFFFFFF)
    frame = VideoFrame(width, height, "yuv420p")
    _fill(frame, 0, bytes(luma), width)
    for index in (1, 2):
        _fill(frame, index, b"\x80" * ((width // 2) * (height // 2)), width // 2)
    return frame


def _fill(frame: VideoFrame, index: int, data: bytes, width: int) -> None:
    plane = frame.planes[index]
    stride = plane.line_size
    if stride != width:  # planes may be padded to an aligned stride
        pad = bytes(stride - width)
        data = b"".join(data[y : y + width] + pad for y in range(0, len(data), width))
    plane.update(data)


def read_stamp(frame: VideoFrame) -> int:
    """The 32-bit millisecond stamp written by :class:`StampedVideoTrack`."""
    plane = frame.planes[0]
    data, stride = bytes(plane), plane.line_size
    value = 0
    for bit in range(_BITS):
        top, left = (bit // _COLUMNS) * _BLOCK, (bit % _COLUMNS) * _BLOCK
        middle = (top + _BLOCK // 2) * stride + left + _BLOCK // 2
        if data[middle] > 128:
            value |= 1 << bit
    return value


def stamp_now() -> int:
    """Wall-clock milliseconds modulo 2**32, the unit of the stamp."""
    return int(time.time() * 1000) & 0xFFFFFFFF


def stamp_age_ms(stamp: int) -> int:
    """Milliseconds since ``stamp`` was taken (wrap-safe)."""
    return (stamp_now() - stamp) & 0xFFFFFFFF


class StampedVideoTrack(VideoStreamTrack):
    """A video track at ``fps`` with moving stripes and a capture-time stamp.

    The luma patterns are precomputed, so drawing a 720p frame costs copies only.
    """

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        self._width, self._height, self._fps = width, height, fps
        self._index = 0
        self._epoch: float | None = None

    async def _wait_next(self) -> int:
        if self._epoch is None:
            self._epoch = time.monotonic()
        target = self._epoch + self._index / self._fps
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        return round(self._index * VIDEO_CLOCK_RATE / self._fps)

    async def recv(self) -> VideoFrame:
        """The next frame, paced at ``fps``, stamped with the wall clock; none once stopped."""
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self._wait_next()
        frame = make_frame(self._width, self._height, self._index, stamp_now())
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self._index += 1
        return frame
