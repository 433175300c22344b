"""Client-side aiortc peers: a synthetic WHIP publisher and a WHEP viewer.

They stand in for a browser in tests, benchmarks and rehearsals. Each takes an
``exchange`` coroutine that sends an SDP offer and returns the answer, so the
same peer works against a :class:`~streaming.stage.Stage` in process or over
HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError
from av.video.frame import VideoFrame

from .aiortc_compat import rtc_configuration
from .synthetic import StampedVideoTrack, read_stamp, stamp_age_ms

__all__ = ["Exchange", "SyntheticPublisher", "ViewerPeer"]

Exchange = Callable[[str], Awaitable[str]]


async def _negotiate(pc: RTCPeerConnection, exchange: Exchange) -> None:
    await pc.setLocalDescription(await pc.createOffer())
    answer = await exchange(pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))


class SyntheticPublisher:
    """Publishes a stamped test pattern and silence, like a presenter's browser."""

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30) -> None:
        self.pc = RTCPeerConnection(rtc_configuration(()))
        self.video = StampedVideoTrack(width, height, fps)
        self.pc.addTransceiver(self.video, direction="sendonly")
        self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")

    async def connect(self, exchange: Exchange) -> None:
        """Offer, get the answer through ``exchange``, start sending."""
        await _negotiate(self.pc, exchange)

    async def close(self) -> None:
        """Hang up."""
        await self.pc.close()


class ViewerPeer:
    """Receives a stage and decodes it, counting frames and measuring stamp latency."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(rtc_configuration(()))
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self.video_frames = 0
        self.audio_frames = 0
        self.latencies_ms: list[int] = []
        self.frame_size: tuple[int, int] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._progress = asyncio.Event()
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self._count(frame)

    def _count(self, frame: object) -> None:
        if isinstance(frame, VideoFrame):
            self.video_frames += 1
            self.frame_size = (frame.width, frame.height)
            self.latencies_ms.append(stamp_age_ms(read_stamp(frame)))
        else:
            self.audio_frames += 1
        self._progress.set()

    async def connect(self, exchange: Exchange) -> None:
        """Offer (recvonly audio+video), get the answer through ``exchange``."""
        await _negotiate(self.pc, exchange)

    async def wait_video_frames(self, count: int, timeout: float = 20.0) -> int:
        """Wait until ``count`` more video frames have been decoded; returns the total."""
        return await self._wait(lambda: self.video_frames, count, timeout)

    async def wait_audio_frames(self, count: int, timeout: float = 20.0) -> int:
        """Wait until ``count`` more audio frames have been decoded; returns the total."""
        return await self._wait(lambda: self.audio_frames, count, timeout)

    async def _wait(self, frames: Callable[[], int], count: int, timeout: float) -> int:
        target = frames() + count
        async with asyncio.timeout(timeout):
            while frames() < target:
                self._progress.clear()
                await self._progress.wait()
        return frames()

    async def close(self) -> None:
        """Hang up and stop consuming."""
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
