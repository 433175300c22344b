"""Recording of a stage to fragmented MP4, from the packets the stage already encoded.

The file is written as ``moov`` + frequent ``moof``/``mdat`` fragments and
flushed after each fragment, so if the process is killed only the fragment
being written is lost. A publisher drop pauses the recording: when someone
publishes again, the timeline continues where it stopped instead of leaving
a gap.
"""

from __future__ import annotations

import fractions
from datetime import UTC, datetime
from pathlib import Path

from .config import StreamingConfig
from .encoders import AUDIO_TIME_BASE, VIDEO_TIME_BASE, EncodedPacket
from .hub import PacketKind, StageHub
from .mux import MuxTarget, copy_packet, open_target

__all__ = ["Recorder"]


def _movflags() -> str:
    # empty_moov+delay_moov: the header is written with the first fragment, once the
    # H.264 parameter sets are known; default_base_moof for players that need it.
    return "frag_keyframe+empty_moov+delay_moov+default_base_moof"


class Recorder:
    """A :class:`~streaming.hub.PacketSink` writing one fragmented MP4 file."""

    def __init__(self, folder: Path, config: StreamingConfig, hub: StageHub) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.path = folder / f"{stamp}.mp4"
        self._fragment_us = round(config.record_fragment_seconds * 1_000_000)
        self._frame_s = 1 / config.fps
        self._hub = hub
        self._out: MuxTarget | None = None
        self._waiting_key = True
        self._offset_s: float | None = None  # stage-clock seconds mapped to file time 0
        self._end_s = 0.0  # file time written so far
        self._last_pts: dict[str, int] = {"video": -1, "audio": -1}
        self.closed = False

    @property
    def position(self) -> float:
        """Seconds of media in the file so far: where a chapter mark made now belongs.

        It stands still while the recording is paused (the file has no gap), so a mark made
        during a publisher drop lands where the recording resumes."""
        return self._end_s

    # -- PacketSink ------------------------------------------------------------

    def on_packet(self, kind: PacketKind, packet: EncodedPacket) -> None:
        """Write a packet; video (re)starts at a key frame, audio only alongside video."""
        if self.closed or packet.pts is None or kind == "opus":
            return
        base = VIDEO_TIME_BASE if kind == "video" else AUDIO_TIME_BASE
        stage_s = float(packet.pts * base)
        if self._waiting_key:
            if kind != "video" or not packet.is_keyframe:
                return
            self._resume(stage_s)
        self._write(kind, packet, stage_s, base)

    def on_source(self, live: bool) -> None:
        """Pause when the publisher goes; the next key frame resumes the file."""
        if not live:
            self._waiting_key = True

    # -- writing -----------------------------------------------------------------

    def _resume(self, stage_s: float) -> None:
        if self._out is None:
            self._out = self._open()
        self._offset_s = stage_s - self._end_s
        self._waiting_key = False

    def _open(self) -> MuxTarget:
        size = self._hub.video_size
        assert size is not None
        options = {
            "movflags": _movflags(),
            "frag_duration": str(self._fragment_us),
            "flush_packets": "1",
        }
        return open_target(self.path, "mp4", size, options)

    def _write(
        self, kind: PacketKind, packet: EncodedPacket, stage_s: float, base: fractions.Fraction
    ) -> None:
        assert self._out is not None and self._offset_s is not None
        file_s = stage_s - self._offset_s
        key = "video" if kind == "video" else "audio"
        pts = round(file_s / base)
        if file_s < 0 or pts <= self._last_pts[key]:
            return  # audio from before the video started, or out of order
        self._last_pts[key] = pts
        stream = self._out.video if kind == "video" else self._out.audio
        self._out.container.mux(copy_packet(packet, stream, pts, base))
        if kind == "video":
            self._end_s = max(self._end_s, file_s + self._frame_s)

    def close(self) -> None:
        """Finish the file (the index written on close is a bonus, not a requirement)."""
        if self.closed:
            return
        self.closed = True
        if self._out is not None:
            self._out.container.close()
