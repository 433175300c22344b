"""Publication media from a stage recording, without re-encoding the video.

One pass over the recording's packets cuts the trim range (the start moves back
to the key frame at or before the in point, so the copy needs no encode) and
muxes the same packets into an MP4 (``+faststart``) and an HLS VOD rendition.
A poster is one decoded frame saved as JPEG; chapters and captions are WebVTT.

Every file goes through a :class:`WriteBudget`, so a publication that would
fill the disk stops with ``publish.disk_full`` instead of starving the live
recordings on the same volume.
"""

from __future__ import annotations

import errno
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.container import InputContainer, OutputContainer
from av.video.frame import VideoFrame

from .errors import StreamingError

__all__ = [
    "Chapter",
    "CaptionsError",
    "CutChapter",
    "PublishResult",
    "PublishSpec",
    "WriteBudget",
    "chapters_on_cut",
    "chapters_vtt",
    "media_duration",
    "publish_media",
    "shift_captions",
    "text_vtt",
    "validate_webvtt",
]

Progress = Callable[[float, str], None]

MP4_NAME = "video.mp4"
HLS_DIR = "hls"
HLS_PLAYLIST = "index.m3u8"
POSTER_NAME = "poster.jpg"
CHAPTERS_NAME = "chapters.vtt"
CAPTIONS_NAME = "captions.sv.vtt"
_BUDGET_EVERY = 200  # packets between two checks of the bytes written


@dataclass(frozen=True)
class Chapter:
    """A chapter starting ``start`` seconds into the recording."""

    start: float
    title: str


@dataclass
class WriteBudget:
    """How many bytes a job may write under ``root``; ``None`` means what the disk has
    free minus ``reserve`` bytes. Exceeding it raises ``OSError(ENOSPC)``."""

    root: Path
    limit: int | None = None
    reserve: int = 512 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.limit is None:
            self.limit = max(0, shutil.disk_usage(self.root).free - self.reserve)

    def written(self) -> int:
        """Bytes in the files under ``root`` now."""
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def check(self) -> None:
        """Raise ENOSPC once the files under ``root`` pass the limit."""
        assert self.limit is not None
        if self.written() > self.limit:
            raise OSError(errno.ENOSPC, "no space left for the publication", str(self.root))


@dataclass(frozen=True)
class PublishSpec:
    """What to make of one recording; times are seconds of the recording."""

    source: Path
    out_dir: Path
    trim_in: float = 0.0
    trim_out: float | None = None
    chapters: tuple[Chapter, ...] = ()
    captions_vtt: str | None = None
    poster_at: float | None = None
    hls_segment_seconds: float = 6.0


@dataclass
class PublishResult:
    """The files made, relative to ``out_dir``, and the facts a catalogue needs."""

    start: float  # where the cut really starts in the recording (a key frame)
    duration: float
    width: int
    height: int
    files: dict[str, str] = field(default_factory=dict)
    chapters: list[CutChapter] = field(default_factory=list)  # on the cut's timeline


# -- probing -----------------------------------------------------------------------


def media_duration(path: Path) -> float:
    """Duration in seconds of a (possibly unfinished, fragmented) MP4, from its packets."""
    with av.open(str(path)) as container:
        end = 0.0
        for packet in container.demux():
            if packet.pts is not None and packet.time_base is not None:
                span = (packet.duration or 0) * packet.time_base
                end = max(end, float(packet.pts * packet.time_base + span))
        return end


# -- the cut -----------------------------------------------------------------------


def _check_range(spec: PublishSpec, length: float) -> tuple[float, float]:
    end = length if spec.trim_out is None else min(spec.trim_out, length)
    if spec.trim_in < 0 or spec.trim_in >= end or spec.trim_in >= length:
        raise StreamingError(
            "publish.bad_trim",
            f"the trim range {spec.trim_in:.2f}-{end:.2f} s is empty or outside 0-{length:.2f} s",
        )
    return spec.trim_in, end


def _key_frame_before(container: InputContainer, at: float) -> float:
    """Time of the last video key frame at or before ``at`` (0 if none)."""
    best = 0.0
    video = container.streams.video[0]
    for packet in container.demux(video):
        if packet.pts is None or packet.time_base is None:
            continue
        t = float(packet.pts * packet.time_base)
        if t > at + 1e-6:
            break
        if packet.is_keyframe:
            best = t
    container.seek(0)
    return best


def _open_outputs(
    container: InputContainer, spec: PublishSpec
) -> tuple[list[OutputContainer], dict[int, list[Any]]]:
    (spec.out_dir / HLS_DIR).mkdir(parents=True, exist_ok=True)
    mp4 = av.open(
        str(spec.out_dir / MP4_NAME), "w", format="mp4", options={"movflags": "+faststart"}
    )
    hls = av.open(
        str(spec.out_dir / HLS_DIR / HLS_PLAYLIST),
        "w",
        format="hls",
        options={
            "hls_time": str(spec.hls_segment_seconds),
            "hls_playlist_type": "vod",
            "hls_segment_filename": str(spec.out_dir / HLS_DIR / "seg_%05d.ts"),
        },
    )
    streams: dict[int, list[Any]] = {}
    for source in (container.streams.video[0], *container.streams.audio[:1]):
        streams[source.index] = [out.add_stream_from_template(source) for out in (mp4, hls)]
    return [mp4, hls], streams


def _packets(container: InputContainer, start: float, end: float) -> Iterator[Any]:
    """Packets of the cut; video stops at ``end``, audio too."""
    wanted = [container.streams.video[0], *container.streams.audio[:1]]
    for packet in container.demux(*wanted):
        if packet.pts is None or packet.dts is None or packet.time_base is None:
            continue
        t = float(packet.pts * packet.time_base)
        if start - 1e-6 <= t < end:
            yield packet


def _restamp(packet: Any, start: float) -> None:
    shift = round(Fraction(start).limit_denominator(1_000_000) / packet.time_base)
    packet.pts -= shift
    packet.dts = max(0, packet.dts - shift)


def _cut(
    container: InputContainer,
    spec: PublishSpec,
    start: float,
    end: float,
    progress: Progress,
    budget: WriteBudget,
) -> None:
    outputs, streams = _open_outputs(container, spec)
    try:
        for count, packet in enumerate(_packets(container, start, end)):
            t = float(packet.pts * packet.time_base)
            _restamp(packet, start)
            mp4_stream, hls_stream = streams[packet.stream.index]
            packet.stream = mp4_stream
            outputs[0].mux(packet)
            copy = av.Packet(bytes(packet))
            copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
            copy.is_keyframe = packet.is_keyframe
            copy.stream = hls_stream
            outputs[1].mux(copy)
            if count % _BUDGET_EVERY == 0:
                budget.check()
                progress(0.7 * (t - start) / max(end - start, 1e-6), "remux")
    finally:
        for out in outputs:
            out.close()
    budget.check()


# -- poster ------------------------------------------------------------------------


def _frame_at(container: InputContainer, at: float) -> VideoFrame:
    video = container.streams.video[0]
    last: VideoFrame | None = None
    for frame in container.decode(video):
        last = frame
        if frame.time is not None and frame.time >= at:
            break
    if last is None:
        raise StreamingError("publish.no_video", "the recording has no video frame")
    return last


def write_poster(source: Path, at: float, target: Path) -> tuple[int, int]:
    """Save the frame at ``at`` seconds as JPEG; returns its size."""
    with av.open(str(source)) as container:
        frame = _frame_at(container, at)
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height = frame.width, frame.height
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 25)
    frame = frame.reformat(format="yuvj420p")
    frame.pts = 0
    data = b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])
    target.write_bytes(data)
    return frame.width, frame.height


# -- WebVTT --------------------------------------------------------------------------

_TIME = re.compile(r"^(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})$")
_ARROW = "-->"
_LOOKS_TIMED = re.compile(r"^\s*(?:\d+:)?\d+:\d+\.\d+\s")


class CaptionsError(StreamingError):
    """A WebVTT file that does not parse: the 1-based ``line`` and the ``reason``."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__("captions.invalid", f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _seconds(text: str, line: int) -> float:
    match = _TIME.match(text)
    if match is None:
        raise CaptionsError(line, f"'{text[:40]}' is not a time like 00:01:02.500")
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def _stamp(seconds: float) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


@dataclass
class Cue:
    """One parsed cue: its times, what follows ``-->`` after the end time, and its lines."""

    start: float
    end: float
    settings: str
    lines: list[str]
    ident: str = ""


def _timing(text: str, line: int) -> tuple[float, float, str]:
    left, _, right = text.partition(_ARROW)
    parts = right.split(None, 1)
    if not parts:
        raise CaptionsError(line, "the cue has no end time after '-->'")
    start, end = _seconds(left.strip(), line), _seconds(parts[0], line)
    if end <= start:
        raise CaptionsError(line, "the cue ends before it starts")
    return start, end, parts[1] if len(parts) > 1 else ""


def _blocks(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Blank-line separated blocks with the 1-based line number of their first line."""
    block: list[str] = []
    first = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            first = first or number
            block.append(line)
        elif block:
            yield first, block
            block, first = [], 0
    if block:
        yield first, block


def _cue(first: int, block: list[str], previous_start: float) -> Cue | None:
    if block[0].startswith(("NOTE", "STYLE", "REGION")) and _ARROW not in block[0]:
        return None
    ident = ""
    if _ARROW not in block[0] and _LOOKS_TIMED.match(block[0]):
        raise CaptionsError(first, "a timing line needs '-->' between the start and end times")
    if _ARROW not in block[0]:
        ident, block, first = block[0], block[1:], first + 1
        if not block or _ARROW not in block[0]:
            raise CaptionsError(first, "expected a cue timing line 'start --> end'")
    start, end, settings = _timing(block[0], first)
    if start < previous_start:
        raise CaptionsError(first, "cues must be in order of their start time")
    if any(_ARROW in text for text in block[1:]):
        raise CaptionsError(first + 1, "a cue's text must not contain '-->'")
    return Cue(start, end, settings, block[1:], ident)


def validate_webvtt(text: str) -> list[Cue]:
    """Parse a WebVTT file strictly enough for players; raise :class:`CaptionsError`."""
    if "\x00" in text:
        raise CaptionsError(1, "the file contains NUL characters")
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header = lines[0]
    if not (header == "WEBVTT" or header.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise CaptionsError(1, "the file must start with 'WEBVTT'")
    cues: list[Cue] = []
    for first, block in _blocks(lines[1:]):
        if first == 1 and _ARROW not in "".join(block):
            continue  # header metadata lines straight after WEBVTT
        cue = _cue(first + 1, block, cues[-1].start if cues else 0.0)
        if cue is not None:
            cues.append(cue)
    if not cues:
        raise CaptionsError(len(lines), "the file has no cues")
    return cues


def _render(cues: list[Cue]) -> str:
    out = ["WEBVTT", ""]
    for cue in cues:
        if cue.ident:
            out.append(cue.ident)
        timing = f"{_stamp(cue.start)} --> {_stamp(cue.end)}"
        out += [f"{timing} {cue.settings}".rstrip(), *cue.lines, ""]
    return "\n".join(out)


def shift_captions(text: str, start: float, end: float) -> str:
    """Captions timed on the recording, moved onto the cut ``start``-``end``."""
    kept = []
    for cue in validate_webvtt(text):
        if cue.end <= start or cue.start >= end:
            continue
        cue.start, cue.end = max(0.0, cue.start - start), min(end, cue.end) - start
        kept.append(cue)
    return _render(kept)


@dataclass(frozen=True)
class CutChapter:
    """A chapter on the cut's timeline: ``start``-``end`` seconds into the published video."""

    start: float
    end: float
    title: str


def chapters_on_cut(chapters: tuple[Chapter, ...], start: float, end: float) -> list[CutChapter]:
    """Chapters timed on the recording, moved onto the cut ``start``-``end``.

    A chapter that ends before the cut starts or begins at or after its end is dropped; one
    that began before the cut starts at 0 (its title still describes what is on screen)."""
    inside = sorted((c for c in chapters if c.start < end), key=lambda c: c.start)
    kept: list[CutChapter] = []
    for index, chapter in enumerate(inside):
        stop = inside[index + 1].start if index + 1 < len(inside) else end
        begin = max(chapter.start, start)
        if stop - begin > 0.05:
            kept.append(CutChapter(round(begin - start, 3), round(stop - start, 3), chapter.title))
    return kept


def cue_text(text: str) -> str:
    """Plain text as WebVTT cue text: ``&``, ``<`` and ``>`` would start entities and tags (a
    title like "Bibliotek <3" would lose its end), and a line break would end the cue."""
    text = " ".join(text.split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_vtt(lines: Sequence[tuple[float, float, str]]) -> str:
    """Plain-text ``(start, end, text)`` lines, in order of start, as a WebVTT captions file."""
    return _render([Cue(start, end, "", [cue_text(text)]) for start, end, text in lines])


def chapters_vtt(chapters: tuple[Chapter, ...], start: float, end: float) -> str:
    """Chapters (recording time) as a WebVTT chapters track of the cut ``start``-``end``."""
    cues = [
        Cue(c.start, c.end, "", [cue_text(c.title)], f"ch{index + 1}")
        for index, c in enumerate(chapters_on_cut(chapters, start, end))
    ]
    return _render(cues)


# -- the whole job ----------------------------------------------------------------------


def publish_media(
    spec: PublishSpec, progress: Progress | None = None, budget: WriteBudget | None = None
) -> PublishResult:
    """Make the publication's media files in ``spec.out_dir`` (blocking; run it in a thread).

    Raises ``publish.bad_trim`` for an empty or out-of-range cut, ``captions.invalid``,
    and ``OSError`` (ENOSPC from the budget, or the disk's own).
    """
    report = progress or (lambda _f, _s: None)
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    budget = budget or WriteBudget(spec.out_dir)
    length = media_duration(spec.source)
    trim_in, trim_out = _check_range(spec, length)
    with av.open(str(spec.source)) as container:
        start = _key_frame_before(container, trim_in)
        _cut(container, spec, start, trim_out, report, budget)
    return _extras(spec, start, trim_out, report, budget)


def _extras(
    spec: PublishSpec, start: float, end: float, report: Progress, budget: WriteBudget
) -> PublishResult:
    files = {"video": MP4_NAME, "hls": f"{HLS_DIR}/{HLS_PLAYLIST}"}
    report(0.72, "poster")
    poster_at = spec.poster_at if spec.poster_at is not None else spec.trim_in
    width, height = write_poster(
        spec.source, min(max(poster_at, start), end), spec.out_dir / POSTER_NAME
    )
    files["poster"] = POSTER_NAME
    chapters = chapters_on_cut(spec.chapters, start, end)
    (spec.out_dir / CHAPTERS_NAME).write_text(chapters_vtt(spec.chapters, start, end), "utf-8")
    files["chapters"] = CHAPTERS_NAME
    if spec.captions_vtt:
        captions = shift_captions(spec.captions_vtt, start, end)
        (spec.out_dir / CAPTIONS_NAME).write_text(captions, "utf-8")
        files["captions"] = CAPTIONS_NAME
    budget.check()
    report(0.75, "media")
    duration = media_duration(spec.out_dir / MP4_NAME)
    return PublishResult(start, duration, width, height, files, chapters)
