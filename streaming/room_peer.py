"""A client-side aiortc participant of a breakout room, standing in for a browser.

It publishes a synthetic camera (and a tone or silence), offers ``recvonly``
slots for the others, decodes what it receives and counts frames per
publisher using the slot map the room returns. Tests and the benchmark use it;
``exchange`` sends an offer and returns the answer and slot map, so the same
peer works against a :class:`~streaming.room.MediaRoom` in process or over a
socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
from collections import Counter
from collections.abc import Awaitable, Callable

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame

from .aiortc_compat import intercept_encoded, prefer_codec, rtc_configuration
from .room import ROOM_CODECS, Slot
from .synthetic import StampedVideoTrack

__all__ = ["RoomExchange", "RoomPeer", "ToneTrack"]

RoomExchange = Callable[[str], Awaitable[tuple[str, tuple[Slot, ...]]]]

_RATE = 48000
_SAMPLES = 960


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone at about -10 dBov: a participant who is speaking."""

    def __init__(self) -> None:
        super().__init__()
        self._phase = 0

    async def recv(self) -> AudioFrame:
        silence = await super().recv()
        frame = AudioFrame(format="s16", layout="mono", samples=_SAMPLES)
        samples = b"".join(
            int(10000 * math.sin(2 * math.pi * 440 * (self._phase + i) / _RATE)).to_bytes(
                2, "little", signed=True)
            for i in range(_SAMPLES)
        )
        self._phase += _SAMPLES
        frame.planes[0].update(samples)
        frame.pts, frame.sample_rate = silence.pts, _RATE
        frame.time_base = fractions.Fraction(1, _RATE)
        return frame


class RoomPeer:
    """One participant: publishes, receives the others, counts decoded frames per publisher."""

    def __init__(
        self, *, video: bool = True, audio: bool = True, tone: bool = False,
        width: int = 320, height: int = 240, decode: bool = True,
    ) -> None:
        self.pc = RTCPeerConnection(rtc_configuration((), max_bundle=True))
        if video:
            camera = self.pc.addTransceiver(StampedVideoTrack(width, height), "sendonly")
            prefer_codec(camera, ROOM_CODECS["video"])
        if audio:
            track = ToneTrack() if tone else AudioStreamTrack()
            self.pc.addTransceiver(track, direction="sendonly")
        self._decode = decode
        self.slots: dict[str, Slot] = {}
        self.frames: Counter[tuple[str, str]] = Counter()
        self._tasks: list[asyncio.Task[None]] = []
        self._progress = asyncio.Event()
        self.pc.on("track", self._on_track)

    def add_slots(self, pairs: int) -> None:
        """Add ``pairs`` receive slots (one video and one audio each)."""
        for _ in range(pairs):
            prefer_codec(self.pc.addTransceiver("video", "recvonly"), ROOM_CODECS["video"])
            self.pc.addTransceiver("audio", direction="recvonly")

    async def negotiate(self, exchange: RoomExchange) -> None:
        """Offer (first time or again after :meth:`add_slots`), apply the answer."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer, slots = await exchange(self.pc.localDescription.sdp)
        self.set_slots(slots)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    def set_slots(self, slots: tuple[Slot, ...]) -> None:
        """The room's slot map (from the answer or a later ``room.slots`` event)."""
        self.slots = {slot.mid: slot for slot in slots}

    def _on_track(self, track: MediaStreamTrack) -> None:
        transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
        mid = transceiver.mid or ""
        if not self._decode:  # a benchmark subscriber: count encoded frames, spend no CPU decoding
            intercept_encoded(transceiver.receiver, lambda data, ts: self._count(mid, track.kind),
                              lambda ssrc, level: None)
            return
        self._tasks.append(asyncio.ensure_future(self._consume(track, mid)))

    def _count(self, mid: str, kind: str) -> None:
        slot = self.slots.get(mid)
        if slot is not None and slot.publisher is not None:
            self.frames[(slot.publisher, kind)] += 1
            self._progress.set()

    async def _consume(self, track: MediaStreamTrack, mid: str) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self._count(mid, "video" if isinstance(frame, VideoFrame) else "audio")

    def video_from(self, publisher: str) -> int:
        return self.frames[(publisher, "video")]

    def audio_from(self, publisher: str) -> int:
        return self.frames[(publisher, "audio")]

    async def wait_frames(self, publisher: str, count: int, timeout: float = 20.0) -> None:
        """Wait for ``count`` more decoded video frames from ``publisher``."""
        target = self.video_from(publisher) + count
        async with asyncio.timeout(timeout):
            while self.video_from(publisher) < target:
                self._progress.clear()
                await self._progress.wait()

    async def close(self) -> None:
        """Hang up and stop decoding."""
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
