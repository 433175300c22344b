"""Live HLS from the stage's encoded packets: a master playlist naming one media playlist per
rendition, MPEG-TS segments, rolling playlists.

Video is copied (the stage already cuts a key frame at each segment boundary,
on request), audio is the stage's shared AAC, muxed into every rendition. The
renditions' key frames fall on the same frames, so their segments line up and a
player (hls.js) can switch between them by bandwidth at any boundary. When the
publisher comes back after a drop, the next segment carries ``#EXT-X-DISCONTINUITY``.

A stage opened again on a folder that has a playlist (the media process was killed and
restarted, or the stage closed and opened again) goes on from it: the segments still listed
stay, numbering continues from the last listed one, and the first new segment is a
discontinuity. A player that keeps reloading sees one continuous playlist (RFC 8216 6.2.1: the
media and discontinuity sequences never decrease, a sequence number always names the same
segment), and no listed segment's name is used for another file (they are served as
immutable).

Files are flat in the stage's folder (``index.m3u8``, ``720p.m3u8``,
``720p_000012.ts``): the web server serves one folder level and nothing else.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import StreamingConfig
from .encoders import AUDIO_TIME_BASE, VIDEO_TIME_BASE, EncodedPacket, h264_level
from .hub import PacketKind, StageHub
from .mux import MuxTarget, copy_packet, open_target

__all__ = ["HlsLadder", "HlsPackager", "PLAYLIST_NAME"]

PLAYLIST_NAME = "index.m3u8"
"""The master playlist: what players open."""
_EXTRA_KEPT = 3  # segments kept on disk after leaving the playlist, for slow clients
_SEGMENT_NAME = re.compile(r"^(?P<prefix>[A-Za-z0-9]+)_(?P<sequence>\d{6})\.ts$")


def _replace(playlist: Path, text: str) -> None:
    """Write a playlist atomically: a player must never read half of one."""
    tmp = playlist.with_suffix(".m3u8.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, playlist)


@dataclass
class _Segment:
    prefix: str
    sequence: int
    start_pts: int
    duration: float = 0.0
    discontinuity: bool = False

    @property
    def name(self) -> str:
        return f"{self.prefix}_{self.sequence:06d}.ts"


def _parse_playlist(text: str, label: str) -> tuple[list[_Segment], int]:
    """The segments a media playlist of ours lists, and its discontinuity sequence. Anything
    that is not what this module writes yields no segments (the packager then starts after
    the files it finds)."""
    segments: list[_Segment] = []
    sequence, discontinuity_sequence = 0, 0
    duration, discontinuity = None, False
    try:
        for line in text.splitlines():
            if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                sequence = int(line.split(":", 1)[1])
            elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
                discontinuity_sequence = int(line.split(":", 1)[1])
            elif line == "#EXT-X-DISCONTINUITY":
                discontinuity = True
            elif line.startswith("#EXTINF:"):
                duration = float(line[8:].split(",", 1)[0])
            elif line and not line.startswith("#"):
                match = _SEGMENT_NAME.match(line)
                if (match is None or match.group("prefix") != label or duration is None
                        or int(match.group("sequence")) != sequence):
                    return [], 0
                segments.append(_Segment(label, sequence, 0, duration, discontinuity))
                sequence, duration, discontinuity = sequence + 1, None, False
    except ValueError:
        return [], 0
    return segments, max(0, discontinuity_sequence)


class HlsPackager:
    """A :class:`~streaming.hub.PacketSink` writing one rendition's media playlist
    (``<label>.m3u8``) and segments to ``folder``."""

    def __init__(
        self, folder: Path, config: StreamingConfig, hub: StageHub, rendition: int = 0,
        on_size: Callable[[], None] | None = None,
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.rendition = rendition
        self._label = config.renditions[rendition].label
        self._on_size = on_size
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
        self._resume()

    @property
    def playlist_path(self) -> Path:
        """Path of this rendition's live playlist."""
        return self.folder / f"{self._label}.m3u8"

    def _resume(self) -> None:
        """Go on from the playlist and segments an earlier packager left in the folder."""
        names = map(_SEGMENT_NAME.match, os.listdir(self.folder))
        on_disk = [int(m.group("sequence")) for m in names
                   if m is not None and m.group("prefix") == self._label]
        try:
            text = self.playlist_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        segments, discontinuity_sequence = _parse_playlist(text, self._label)
        # A listed segment whose file is gone cannot be served again: the window starts after it.
        while any(not (self.folder / s.name).is_file() for s in segments):
            if segments.pop(0).discontinuity:
                discontinuity_sequence += 1
        self._segments = segments
        self._discontinuity_sequence = discontinuity_sequence
        # A segment's sequence number is its place in the playlist (RFC 8216 6.3.5), and ours
        # are in its name: the next one follows the last listed. A file past it was being
        # written when the process died, was never listed, so no player has it: its name is
        # free. With no playlist to go on, numbering starts past every file.
        self._next_sequence = (segments[-1].sequence if segments
                               else max([*on_disk, -1])) + 1
        self._pending_discontinuity = bool(segments or on_disk)

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
        size = self._hub.video_size_of(self.rendition)
        assert size is not None
        if self._next_sequence == 0 and self._on_size is not None:
            self._on_size()
        segment = _Segment(self._label, self._next_sequence, pts,
                           discontinuity=self._pending_discontinuity)
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
            stale = self.folder / _Segment(self._label, gone.sequence - _EXTRA_KEPT, 0).name
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
        _replace(self.playlist_path, self._playlist_text())

    def close(self) -> None:
        """Finish the last segment and end the playlist."""
        self._finish_segment(self._last_video_pts + self._frame_pts)
        self._ended = True
        if self._segments:
            self._write_playlist()


class HlsLadder:
    """Every rendition of a stage as HLS: one :class:`HlsPackager` each, added to the hub as
    sinks, and the master playlist ``index.m3u8`` that names them, best first (rewritten once
    the publisher's picture size is known)."""

    def __init__(self, folder: Path, config: StreamingConfig, hub: StageHub) -> None:
        self.folder = folder
        self._config = config
        self._hub = hub
        self.packagers = [HlsPackager(folder, config, hub, i, on_size=self._write_master)
                          for i in range(len(config.renditions))]
        self._write_master()
        for packager in self.packagers:
            hub.add_sink(packager, packager.rendition)

    @property
    def playlist_path(self) -> Path:
        """The master playlist."""
        return self.folder / PLAYLIST_NAME

    def master_text(self) -> str:
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
        for packager in self.packagers:
            rendition = self._config.renditions[packager.rendition]
            width, height = (self._hub.video_size_of(packager.rendition)
                             or (rendition.width, rendition.height))
            # Peak: the video's rate with the transport stream's overhead, and the audio.
            bandwidth = round(rendition.bitrate * 1.1) + self._config.aac_bitrate
            lines += [
                f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={width}x{height},"
                f'CODECS="avc1.42e0{h264_level(width, height):02x},mp4a.40.2",'
                f"FRAME-RATE={self._config.fps:.3f}",
                packager.playlist_path.name,
            ]
        return "\n".join(lines) + "\n"

    def _write_master(self) -> None:
        _replace(self.playlist_path, self.master_text())

    def close(self) -> None:
        for packager in self.packagers:
            self._hub.remove_sink(packager)
            packager.close()
