"""Small PyAV helpers shared by the HLS packager and the recorder."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
from av.container import OutputContainer
from av.packet import Packet
from av.stream import Stream

from .encoders import AUDIO_TIME_BASE, VIDEO_TIME_BASE, EncodedPacket

__all__ = ["MuxTarget", "copy_packet", "open_target"]


class MuxTarget:
    """An open output file with one H.264 and one AAC stream, muxed without encoding."""

    def __init__(self, container: OutputContainer, video: Stream, audio: Stream) -> None:
        self.container = container
        self.video = video
        self.audio = audio


def open_target(
    path: Path, fmt: str, size: tuple[int, int], options: dict[str, str] | None = None
) -> MuxTarget:
    """Open ``path`` for muxing already-encoded H.264 (``size``) and 48 kHz stereo AAC."""
    container = av.open(str(path), "w", format=fmt, options=options or {})
    width, height = size
    video = container.add_mux_stream("h264", width=width, height=height)
    video.time_base = VIDEO_TIME_BASE
    # A codec context for AAC gives the muxer sample rate, layout and the same
    # AudioSpecificConfig as the stage's encoder (same parameters); it never encodes.
    audio = container.add_stream("aac", rate=48000, layout="stereo")
    audio.time_base = AUDIO_TIME_BASE
    return MuxTarget(container, video, audio)


def copy_packet(
    packet: EncodedPacket, stream: Stream, pts: int, time_base: fractions.Fraction
) -> EncodedPacket:
    """A private copy of a shared packet, restamped for ``stream``.

    Muxing takes ownership of a packet's data, so shared packets are never muxed directly.
    """
    copy = Packet(bytes(packet))
    copy.pts = pts
    copy.dts = pts
    copy.time_base = time_base
    copy.is_keyframe = packet.is_keyframe
    copy.stream = stream
    return copy
