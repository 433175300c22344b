"""Forwarding encoded frames: one publisher's track to many subscribers, no codec in between.

A :class:`ForwardSource` receives a publisher's complete encoded frames (VP8 or
Opus bitstream, see :func:`streaming.aiortc_compat.intercept_encoded`) and
hands them to every :class:`SlotTrack` attached to it. A slot track is one
``m=`` line of a subscriber's connection: its ``recv()`` returns ``av.Packet``s
that aiortc's sender packetizes without encoding. A slot outlives the
publishers it carries: when one leaves, another can take the slot without
renegotiation, so the track re-stamps timestamps to stay continuous and waits
for a key frame from its new source.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .encoders import EncodedPacket

__all__ = ["EncodedFrame", "ForwardSource", "SlotTrack", "is_vp8_keyframe"]

_CLOCK = {"video": 90000, "audio": 48000}
# One frame at 30 fps, one 20 ms Opus packet: the gap left when a slot changes source.
_STEP = {"video": 3000, "audio": 960}
# About two seconds of video: a subscriber further behind starts again at a key frame.
_MAX_QUEUED = 64
# A publisher is asked for a key frame at most this often, however many subscribers ask.
_PLI_INTERVAL = 0.5


def is_vp8_keyframe(data: bytes) -> bool:
    """RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame."""
    return bool(data) and not data[0] & 0x01


@dataclass(frozen=True)
class EncodedFrame:
    """One complete encoded frame; shared by every subscriber, never modified."""

    data: bytes
    timestamp: int
    keyframe: bool


class ForwardSource:
    """One published track (``kind`` ``video`` or ``audio``) of one participant.

    ``request_keyframe`` sends a PLI upstream; it is rate limited here.
    ``level`` is the last ``ssrc-audio-level`` value (0 = 0 dBov, loudest; 127 = silence).
    """

    def __init__(
        self, publisher: str, kind: str, request_keyframe: Callable[[], None]
    ) -> None:
        self.publisher = publisher
        self.kind = kind
        self._request_keyframe = request_keyframe
        self._last_pli = 0.0
        self._tracks: set[SlotTrack] = set()
        self.frames_forwarded = 0
        self.keyframes_requested = 0
        self.level = 127
        self.level_at = 0.0

    def on_frame(self, data: bytes, timestamp: int) -> None:
        """A complete encoded frame from the publisher's receiver."""
        keyframe = self.kind == "audio" or is_vp8_keyframe(data)
        frame = EncodedFrame(data, timestamp, keyframe)
        self.frames_forwarded += 1
        for track in list(self._tracks):
            track.push(self, frame)

    def on_audio_level(self, level: int) -> None:
        """The publisher's audio level from the RTP header extension."""
        self.level = level
        self.level_at = time.monotonic()

    def request_keyframe(self) -> None:
        """Ask the publisher for a key frame (new subscriber, PLI/FIR, overflow)."""
        if self.kind != "video":
            return
        now = time.monotonic()
        if now - self._last_pli < _PLI_INTERVAL:
            return
        self._last_pli = now
        self.keyframes_requested += 1
        self._request_keyframe()

    def attach(self, track: SlotTrack) -> None:
        self._tracks.add(track)
        self.request_keyframe()

    def detach(self, track: SlotTrack) -> None:
        self._tracks.discard(track)

    @property
    def subscriber_count(self) -> int:
        return len(self._tracks)

    def close(self) -> None:
        """The publisher left: every slot carrying it goes idle."""
        for track in list(self._tracks):
            track.switch(None)


class SlotTrack(MediaStreamTrack):
    """A subscriber's outgoing track whose ``recv()`` returns packets of its current source."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.source: ForwardSource | None = None
        self._queue: deque[EncodedPacket] = deque()
        self._ready = asyncio.Event()
        self._need_key = kind == "video"
        self._offset: int | None = None
        self._last_out = -_STEP[kind]
        self._time_base = fractions.Fraction(1, _CLOCK[kind])
        self.packets_dropped = 0

    def switch(self, source: ForwardSource | None) -> None:
        """Carry ``source`` from its next key frame on (``None``: go idle)."""
        if self.source is not None:
            self.source.detach(self)
        self.source = source
        self._queue.clear()
        self._offset = None
        self._need_key = self.kind == "video"
        if source is not None and self.readyState == "live":
            source.attach(self)

    def push(self, source: ForwardSource, frame: EncodedFrame) -> None:
        """Queue a frame of ``source`` (called by the source, never blocks)."""
        if source is not self.source or self.readyState != "live":
            return
        if self._need_key and not frame.keyframe:
            return
        self._need_key = False
        if len(self._queue) >= _MAX_QUEUED:
            self._overflow(source)
            return
        self._queue.append(self._packet(frame))
        self._ready.set()

    def _packet(self, frame: EncodedFrame) -> EncodedPacket:
        if self._offset is None:  # new source: continue our own timeline
            self._offset = self._last_out + _STEP[self.kind] - frame.timestamp
        pts = frame.timestamp + self._offset
        self._last_out = pts
        packet = av.Packet(frame.data)
        packet.pts = pts
        packet.time_base = self._time_base
        return packet

    def _overflow(self, source: ForwardSource) -> None:
        self.packets_dropped += len(self._queue)
        self._queue.clear()
        if self.kind == "video":
            self._need_key = True
            source.request_keyframe()

    def request_keyframe(self) -> None:
        """The subscriber sent a PLI or FIR: ask the publisher."""
        if self.source is not None:
            self.source.request_keyframe()

    async def recv(self) -> Any:  # aiortc senders accept packets
        """Return the next packet; raises ``MediaStreamError`` once the track ended."""
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def stop(self) -> None:
        """End the track (the subscriber left)."""
        if self.source is not None:
            self.source.detach(self)
            self.source = None
        super().stop()
        self._queue.clear()
        self._ready.set()
