"""Forwarding encoded frames: one publisher's track to many subscribers, no codec in between.

A :class:`ForwardSource` receives a publisher's complete encoded frames (VP8 or
Opus bitstream, see :func:`streaming.aiortc_compat.intercept_encoded`), cuts each
into RTP payloads once (:class:`streaming.rtp_stream.PreparedFrame`) and hands it to
every :class:`SlotTrack` attached to it. A slot track is one ``m=`` line of a
subscriber's connection: its :class:`streaming.rtp_stream.RtpStream` writes the shared
payloads with that subscriber's header and encryption, at once, on the event loop. A slot
outlives the publishers it carries: when one leaves, another can take the slot without
renegotiation, so the stream continues its own timestamps and picture ids and waits for a
key frame from its new source.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiortc import RTCRtpSender

from .rtp_stream import ParkedTrack, PreparedFrame, RtpStream

__all__ = ["AUDIBLE_HANGOVER", "AUDIBLE_LEVEL", "ForwardSource", "SlotTrack", "is_vp8_keyframe"]

MIME = {"video": "video/VP8", "audio": "audio/opus"}
# A publisher is asked for a key frame at most this often, however many subscribers ask; a
# request inside the window is kept and sent when it ends.
_PLI_INTERVAL = 0.5
# Audio louder than this (-dBov) is forwarded (the gate's "speaking now"), and for
# AUDIBLE_HANGOVER seconds after, so the ends of words are not cut.
AUDIBLE_LEVEL = 70
AUDIBLE_HANGOVER = 1.0


def is_vp8_keyframe(data: bytes) -> bool:
    """RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame."""
    return bool(data) and not data[0] & 0x01


class ForwardSource:
    """One published track (``kind`` ``video`` or ``audio``) of one participant.

    ``request_keyframe`` sends a PLI upstream; it is rate limited here.
    ``level`` is the last ``ssrc-audio-level`` value (0 = 0 dBov, loudest; 127 = silence),
    ``loud_at`` when it was last louder than :data:`AUDIBLE_LEVEL`. ``gate``, when set, says
    for each frame whether it goes out at all (a room forwards only the audio of those
    speaking); a frame it holds back costs nothing more.
    """

    def __init__(
        self, publisher: str, kind: str, request_keyframe: Callable[[], None]
    ) -> None:
        self.publisher = publisher
        self.kind = kind
        self._request_keyframe = request_keyframe
        self._last_pli = 0.0
        self._tracks: set[SlotTrack] = set()
        self.closed = False
        self._picture_id = 0
        self.frames_forwarded = 0
        self.keyframes_requested = 0
        self.level = 127
        self.level_at = 0.0
        self.loud_at = -AUDIBLE_HANGOVER
        self.gate: Callable[[ForwardSource], bool] | None = None
        self.frames_held = 0
        self._pli_pending: asyncio.TimerHandle | None = None

    def on_frame(self, data: bytes, timestamp: int) -> None:
        """A complete encoded frame from the publisher's receiver."""
        if self.gate is not None and not self.gate(self):
            self.frames_held += 1
            return
        picture_id, self._picture_id = self._picture_id, (self._picture_id + 1) & 0x7FFF
        if not self._tracks:  # nobody receives it now (last-N): not even cut into packets
            return
        keyframe = self.kind == "audio" or is_vp8_keyframe(data)
        frame = PreparedFrame.of(MIME[self.kind], data, timestamp, keyframe, picture_id)
        self.frames_forwarded += 1
        for track in tuple(self._tracks):
            track.push(self, frame)

    def on_audio_level(self, level: int) -> None:
        """The publisher's audio level from the RTP header extension."""
        self.level = level
        self.level_at = time.monotonic()
        if level < AUDIBLE_LEVEL:
            self.loud_at = self.level_at

    def request_keyframe(self) -> None:
        """Ask the publisher for a key frame (new subscriber, PLI/FIR, overflow)."""
        if self.kind != "video" or self._pli_pending is not None:
            return
        wait = self._last_pli + _PLI_INTERVAL - time.monotonic()
        if wait > 0:
            self._pli_pending = asyncio.get_running_loop().call_later(wait, self._send_pli)
            return
        self._send_pli()

    def _send_pli(self) -> None:
        self._pli_pending = None
        if self.closed:
            return
        self._last_pli = time.monotonic()
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
        self.closed = True
        if self._pli_pending is not None:
            self._pli_pending.cancel()
            self._pli_pending = None
        for track in list(self._tracks):
            track.switch(None)


class SlotTrack(ParkedTrack):
    """A subscriber's outgoing m-line: writes the frames of its current source.

    :meth:`bind` ties it to its sender (before the answer is applied); ``stream`` is ``None``
    until then.
    """

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.source: ForwardSource | None = None
        self.stream: RtpStream | None = None

    def bind(self, sender: RTCRtpSender) -> None:
        """Write this slot's packets as ``sender``'s stream."""
        self.stream = RtpStream(sender, self.kind, vp8=self.kind == "video",
                                on_key_needed=self.request_keyframe)

    def switch(self, source: ForwardSource | None) -> None:
        """Carry ``source`` from its next key frame on (``None``: go idle)."""
        if self.source is not None:
            self.source.detach(self)
        self.source = source
        if self.stream is not None:
            self.stream.restart()
        if source is not None and self.readyState == "live":
            source.attach(self)

    def push(self, source: ForwardSource, frame: PreparedFrame) -> None:
        """Send a frame of ``source`` (called by the source, never blocks)."""
        if source is self.source and self.stream is not None:
            self.stream.write(frame)

    def request_keyframe(self) -> None:
        """The subscriber sent a PLI or FIR, or waits for a key frame: ask the publisher."""
        if self.source is not None:
            self.source.request_keyframe()

    def stop(self) -> None:
        """End the track (the subscriber left)."""
        if self.source is not None:
            self.source.detach(self)
            self.source = None
        super().stop()
