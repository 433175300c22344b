"""Viewer tracks of a stage: each writes the hub's shared RTP payloads as its viewer's stream.

Every viewer of a stage gets one :class:`PacketTrack` per kind. The hub cuts each encoded
packet into RTP payloads once (:class:`streaming.rtp_stream.PreparedFrame`) and hands the same
object to every track of its rendition; the track's :class:`streaming.rtp_stream.RtpStream`
adds the viewer's header and encryption and sends it at once. The aiortc sender keeps the
track parked (:class:`streaming.rtp_stream.ParkedTrack`) and only handles RTCP.
"""

from __future__ import annotations

from collections.abc import Callable

from aiortc import RTCRtpSender

from .rtp_stream import ParkedTrack, PreparedFrame, RtpStream

__all__ = ["FrameOutput", "PacketTrack"]

FrameOutput = Callable[[PreparedFrame], object]
"""Where a track's frames go: its stream's ``write`` (tests put a list's ``append`` there)."""


class PacketTrack(ParkedTrack):
    """One viewer's video or audio; video starts at a key frame (its stream waits for one and
    asks the hub through ``on_keyframe_needed``)."""

    def __init__(self, kind: str, on_keyframe_needed: Callable[[], None]) -> None:
        super().__init__(kind)
        self._on_keyframe_needed = on_keyframe_needed
        self.stream: RtpStream | None = None
        self.output: FrameOutput | None = None
        self.rendition = 0  # which of the stage's renditions a video track carries
        self.switch_to: int | None = None  # moving there at its next key frame (StageHub.switch)

    def bind(self, sender: RTCRtpSender) -> None:
        """Write this track's frames as ``sender``'s stream (before the answer is applied)."""
        self.stream = RtpStream(sender, self.kind, on_key_needed=self._on_keyframe_needed)
        self.output = self.stream.write

    def push(self, frame: PreparedFrame) -> None:
        """Send one frame to this viewer now (called by the hub)."""
        if self.output is not None and self.readyState == "live":
            self.output(frame)
