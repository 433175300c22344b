"""The stage's encoders: H.264 for everyone, Opus for WebRTC, AAC for HLS and recordings.

Each stage owns one of each, so the cost of encoding does not grow with the
audience. All of them take frames the caller owns and stamp with their own
clock; they never touch the timestamps of a frame someone else may hold.
"""

from __future__ import annotations

import fractions
from typing import Any, TypeAlias

import av
from av.audio.frame import AudioFrame
from av.packet import Packet
from av.video.frame import PictureType, VideoFrame

from .config import Rendition

__all__ = [
    "AUDIO_TIME_BASE",
    "h264_level",
    "VIDEO_TIME_BASE",
    "AudioEncoder",
    "EncodedPacket",
    "VideoEncoder",
]

# PyAV's stubs make Packet generic over its stream; our packets are not tied to one.
EncodedPacket: TypeAlias = "Packet[Any]"

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48000)
_SAMPLE_RATE = 48000


def h264_level(width: int, height: int) -> int:
    """The H.264 level the stage encodes a picture of this size at (``level_idc``: 31 is 3.1):
    the encoder's option and the HLS master playlist's CODECS (``avc1.42e01f``) both use it."""
    return 31 if width * height <= 1280 * 720 else 41


class VideoEncoder:
    """libx264 ultrafast/zerolatency, constrained baseline, fixed key-frame interval, for one
    rendition of the stage.

    The size is fixed by the first frame, fitted into the rendition: later frames of another
    size (a new publisher) are scaled, so every consumer sees one continuous stream.
    ``encode`` is blocking and meant to run in a worker thread.
    """

    def __init__(self, fps: int, keyframe_seconds: float, rendition: Rendition) -> None:
        self._fps = fps
        self._gop = max(1, round(fps * keyframe_seconds))
        self.rendition = rendition
        self._bitrate = rendition.bitrate
        self._codec: av.VideoCodecContext | None = None
        self.frames_encoded = 0

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) once the first frame has opened the encoder."""
        return None if self._codec is None else (self._codec.width, self._codec.height)

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        codec = av.CodecContext.create("libx264", "w")
        codec.width, codec.height = self.rendition.fit(width, height)
        codec.pix_fmt = "yuv420p"
        codec.time_base = VIDEO_TIME_BASE
        codec.framerate = fractions.Fraction(self._fps, 1)
        codec.gop_size = self._gop
        codec.bit_rate = self._bitrate
        # forced-idr: a forced key frame must be an IDR that a joining browser can start on.
        codec.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "level": str(h264_level(codec.width, codec.height)),
            "sc_threshold": "0",
            "forced-idr": "1",
            "maxrate": str(self._bitrate),
            "bufsize": str(self._bitrate),
        }
        return codec

    def _prepare(self, frame: VideoFrame, pts: int, keyframe: bool) -> VideoFrame:
        if self._codec is None:
            self._codec = self._open(frame.width, frame.height)
        codec = self._codec
        if (frame.width, frame.height, frame.format.name) != (codec.width, codec.height, "yuv420p"):
            frame = frame.reformat(width=codec.width, height=codec.height, format="yuv420p")
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        return frame

    def encode(self, frame: VideoFrame, pts: int, keyframe: bool) -> list[EncodedPacket]:
        """Encode one frame the caller owns at ``pts`` (1/90000 s); may force an IDR."""
        prepared = self._prepare(frame, pts, keyframe)
        assert self._codec is not None
        packets = self._codec.encode(prepared)
        self.frames_encoded += 1
        return list(packets)


class AudioEncoder:
    """One audio encoder (``libopus`` for WebRTC or ``aac`` for HLS/recordings).

    Input frames of any rate/layout are resampled to 48 kHz stereo in the
    codec's frame size; output pts follow a sample counter the caller anchors
    with :meth:`anchor` at the stage clock, so audio stays in sync with video.
    """

    def __init__(self, codec_name: str, bitrate: int) -> None:
        codec: av.AudioCodecContext = av.CodecContext.create(codec_name, "w")  # type: ignore[assignment]
        codec.sample_rate = _SAMPLE_RATE
        codec.layout = "stereo"
        codec.format = "s16" if codec_name == "libopus" else "fltp"
        codec.time_base = AUDIO_TIME_BASE
        codec.bit_rate = bitrate
        if codec_name == "libopus":
            codec.options = {"application": "lowdelay"}
        codec.open()
        self._codec = codec
        self._frame_size = 960 if codec_name == "libopus" else codec.frame_size
        self._resampler = self._new_resampler()
        self._next_pts: int | None = None

    def _new_resampler(self) -> av.AudioResampler:
        fmt = self._codec.format.name
        return av.AudioResampler(
            format=fmt, layout="stereo", rate=_SAMPLE_RATE, frame_size=self._frame_size
        )

    @property
    def extradata(self) -> bytes | None:
        """Codec configuration (AAC AudioSpecificConfig) for muxers."""
        return self._codec.extradata

    def anchor(self, pts: int) -> None:
        """Restart the sample counter at ``pts`` (1/48000 s), e.g. for a new publisher."""
        self._next_pts = pts
        self._resampler = self._new_resampler()

    def encode(self, frame: AudioFrame) -> list[EncodedPacket]:
        """Encode a frame the caller owns; returns zero or more packets."""
        if self._next_pts is None:
            self._next_pts = 0
        frame.pts = None
        packets: list[EncodedPacket] = []
        for chunk in self._resampler.resample(frame):
            chunk.pts = self._next_pts
            chunk.time_base = AUDIO_TIME_BASE
            self._next_pts += chunk.samples
            packets.extend(self._codec.encode(chunk))
        return packets
