"""Viewer tracks that hand already-encoded packets to aiortc senders.

Every viewer of a stage gets one :class:`PacketTrack` per kind. The hub pushes
the same ``av.Packet`` objects into all of them; aiortc's sender packetizes them
without encoding (see :mod:`streaming.aiortc_compat`). Packets are shared, so
nothing here may modify them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .encoders import EncodedPacket

__all__ = ["PacketTrack"]

# About two seconds of video: a viewer further behind than that starts again at a key frame.
_MAX_QUEUED = 64


class PacketTrack(MediaStreamTrack):
    """A ``MediaStreamTrack`` whose ``recv()`` returns shared encoded packets.

    A video track starts at a key frame and, if its queue overflows (a slow
    peer), drops what is queued and waits for the next key frame, asking the
    hub for one through ``on_keyframe_needed``.
    """

    def __init__(self, kind: str, on_keyframe_needed: Callable[[], None]) -> None:
        super().__init__()
        self.kind = kind
        self._queue: deque[EncodedPacket] = deque()
        self._ready = asyncio.Event()
        self._need_key = kind == "video"
        self._on_keyframe_needed = on_keyframe_needed
        self.packets_dropped = 0
        self.sending = False  # its sender has asked for a packet: the connection is up
        self.rendition = 0  # which of the stage's renditions a video track carries
        self.switch_to: int | None = None  # moving there at its next key frame (StageHub.switch)

    @property
    def backlog(self) -> int:
        """Packets waiting for this viewer's sender (0 until it sends: a connecting peer's
        queue says nothing about the fan-out)."""
        return len(self._queue) if self.sending else 0

    def push(self, packet: EncodedPacket) -> None:
        """Queue a packet for this viewer (called by the hub, never blocks)."""
        if self.readyState != "live":
            return
        if self._need_key and not packet.is_keyframe:
            return
        self._need_key = False
        if len(self._queue) >= _MAX_QUEUED:
            self._overflow()
            return
        self._queue.append(packet)
        self._ready.set()

    def _overflow(self) -> None:
        self.packets_dropped += len(self._queue)
        self._queue.clear()
        if self.kind == "video":
            self._need_key = True
            self._on_keyframe_needed()

    async def recv(self) -> EncodedPacket:  # aiortc senders accept packets
        """Return the next packet; raises ``MediaStreamError`` once the track ended."""
        self.sending = True
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def stop(self) -> None:
        """End the track; a pending ``recv()`` raises ``MediaStreamError``."""
        super().stop()
        self._queue.clear()
        self._ready.set()
