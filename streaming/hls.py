"""Live HLS from the stage's encoded packets: MPEG-TS segments and a rolling playlist.

Video is copied (the stage already cuts a key frame at each segment boundary,
on request), audio is the stage's shared AAC. When the publisher comes back
after a drop, the next segment carries ``#EXT-X-DISCONTINUITY``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .config import StreamingConfig
from .encoders import AUDIO_TIME_BASE, VIDEO_TIME_BASE, EncodedPacket
from .hub import PacketKind, StageHub
from .mux import MuxTarget, copy_packet, open_target

__all__ = ["HlsPackager", "PLAYLIST_NAME"]

PLAYLIST_NAME = "index.m3u8"
_EXTRA_KEPT = 3  # segments kept on disk after leaving the playlist, for slow clients


@dataclass
class _Segment:
    sequence: int
    start_pts: int
    duration: float = 0.0
    discontinuity: bool = False

    @property
    def name(self) -> str:
        return f"seg_{self.sequence:06d}.ts"


class HlsPackager:
    """A :class:`~streaming.hub.PacketSink` writing ``index.m3u8`` and segments to ``folder``."""

    def __init__(self, folder: Path, config: StreamingConfig, hub: StageHub) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._target_s = config.hls_segment_seconds
        self._window = config.hls_playlist_size
        self._frame_pts = round(90000 / config.fps)
        self._hub = hub
        self._segments: list[_Segment] = []
        self._current: _Segment | None = None
        self._out: MuxTarget | None = None
        self._next_sequence = 0
        self._discontinuity_sequence = 0
        self._pending_discontinuity = False
        self._asked_key = False
        self._last_video_pts = 0
        self._ended = False

    @property
    def playlist_path(self) -> Path:
        """Path of the live playlist."""
        return self.folder / PLAYLIST_NAME

    # -- PacketSink ------------------------------------------------------------

    def on_packet(self, kind: PacketKind, packet: EncodedPacket) -> None:
        """Mux one packet, cutting a new segment at a key frame past the target."""
        if kind == "video":
            self._on_video(packet)
        elif kind == "aac" and self._out is not None and packet.pts is not None:
            self._out.container.mux(
                copy_packet(packet, self._out.audio, packet.pts, AUDIO_TIME_BASE)
            )

    def on_source(self, live: bool) -> None:
        """Close the segment when the publisher goes; mark the comeback as a discontinuity."""
        if not live:
            self._finish_segment(self._last_video_pts + self._frame_pts)
            self._pending_discontinuity = bool(self._segments)

    # -- segments --------------------------------------------------------------

    def _on_video(self, packet: EncodedPacket) -> None:
        pts = packet.pts
        if pts is None:
            return
        if self._current is None and not packet.is_keyframe:
            self._ask_key()
            return
        elapsed = 0.0 if self._current is None else (pts - self._current.start_pts) / 90000
        if packet.is_keyframe and (self._current is None or elapsed >= 0.75 * self._target_s):
            self._finish_segment(pts)
            self._open_segment(pts)
        elif elapsed >= self._target_s - 1.5 * self._frame_pts / 90000:
            self._ask_key()
        assert self._out is not None
        self._out.container.mux(copy_packet(packet, self._out.video, pts, VIDEO_TIME_BASE))
        self._last_video_pts = pts

    def _ask_key(self) -> None:
        if not self._asked_key:
            self._asked_key = True
            self._hub.request_keyframe()

    def _open_segment(self, pts: int) -> None:
        size = self._hub.video_size
        assert size is not None
        segment = _Segment(self._next_sequence, pts, discontinuity=self._pending_discontinuity)
        self._next_sequence += 1
        self._pending_discontinuity = False
        self._asked_key = False
        self._out = open_target(self.folder / segment.name, "mpegts", size)
        self._current = segment

    def _finish_segment(self, end_pts: int) -> None:
        segment, out = self._current, self._out
        if segment is None or out is None:
            return
        self._current, self._out = None, None
        out.container.close()
        segment.duration = max(0.001, (end_pts - segment.start_pts) / 90000)
        self._segments.append(segment)
        self._expire()
        self._write_playlist()

    def _expire(self) -> None:
        while len(self._segments) > self._window:
            gone = self._segments.pop(0)
            if gone.discontinuity:
                self._discontinuity_sequence += 1
            stale = self.folder / _Segment(gone.sequence - _EXTRA_KEPT, 0).name
            stale.unlink(missing_ok=True)

    # -- playlist --------------------------------------------------------------

    def _playlist_text(self) -> str:
        target = max([math.ceil(self._target_s)] + [round(s.duration) for s in self._segments])
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{target}",
            f"#EXT-X-MEDIA-SEQUENCE:{self._segments[0].sequence if self._segments else 0}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuity_sequence}",
        ]
        for segment in self._segments:
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            lines += [f"#EXTINF:{segment.duration:.3f},", segment.name]
        if self._ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def _write_playlist(self) -> None:
        # Replace atomically: a player must never read half a playlist.
        tmp = self.playlist_path.with_suffix(".m3u8.tmp")
        tmp.write_text(self._playlist_text(), encoding="utf-8")
        os.replace(tmp, self.playlist_path)

    def close(self) -> None:
        """Finish the last segment and end the playlist."""
        self._finish_segment(self._last_video_pts + self._frame_pts)
        self._ended = True
        if self._segments:
            self._write_playlist()
