"""Encode once, fan out: the heart of a stage.

The hub consumes the publisher's decoded tracks, encodes each frame exactly
once (H.264 for video, Opus for WebRTC audio, AAC when an HLS or recording sink
wants it) and hands the resulting packets to every viewer track and sink.
Timestamps come from the hub's own clock, never from the incoming frames, so
a publisher that drops and comes back continues the same timeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, Protocol

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame

from .config import StreamingConfig
from .encoders import AudioEncoder, EncodedPacket, VideoEncoder
from .tracks import PacketTrack

__all__ = ["PacketKind", "PacketSink", "StageHub"]

logger = logging.getLogger(__name__)

PacketKind = Literal["video", "opus", "aac"]


class PacketSink(Protocol):
    """Something that consumes a stage's encoded packets (HLS packager, recorder).

    Packets are shared with every other consumer: a sink must copy before muxing.
    """

    def on_packet(self, kind: PacketKind, packet: EncodedPacket) -> None:
        """Receive one H.264 (``video``) or AAC (``aac``) packet."""

    def on_source(self, live: bool) -> None:
        """The publisher started (``True``) or went away (``False``)."""


def report_sink_failure(sink: PacketSink) -> None:
    """The one place a failing sink is logged; the stage keeps serving viewers."""
    logger.exception("media sink %r failed", sink)


class StageHub:
    """Owns a stage's encoders, viewer tracks and sinks.

    ``encoders_created`` and ``video_frames_encoded`` let callers (and tests)
    check that viewers do not add encodes.
    """

    def __init__(self, config: StreamingConfig) -> None:
        self._config = config
        self._video = VideoEncoder(config.fps, config.keyframe_seconds, config.video_bitrate)
        self._opus = AudioEncoder("libopus", config.opus_bitrate)
        self._aac: AudioEncoder | None = None
        self.encoders_created = 2
        self._origin = time.monotonic()
        self._last_video_pts = -1
        self._force_key = False
        self._audio_anchored = False
        self._viewers: dict[str, set[PacketTrack]] = {"video": set(), "audio": set()}
        self._sinks: list[PacketSink] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="stage-encoder")
        self.frames_received = 0

    @property
    def video_frames_encoded(self) -> int:
        """How many video frames the stage's single H.264 encoder has encoded."""
        return self._video.frames_encoded

    @property
    def video_size(self) -> tuple[int, int] | None:
        """Size of the encoded video, known after the first frame."""
        return self._video.size

    @property
    def viewer_packets_dropped(self) -> int:
        """Packets dropped for slow viewers (their queue overflowed) so far."""
        return sum(t.packets_dropped for tracks in self._viewers.values() for t in tracks)

    def request_keyframe(self) -> None:
        """Make the next encoded video frame an IDR (new viewer, PLI/FIR, segment cut)."""
        self._force_key = True

    def now_seconds(self) -> float:
        """Seconds on the stage clock."""
        return time.monotonic() - self._origin

    # -- viewers and sinks -------------------------------------------------

    def add_viewer_track(self, kind: str) -> PacketTrack:
        """A new track for one viewer; video starts at the next (forced) key frame."""
        track = PacketTrack(kind, self.request_keyframe)
        self._viewers[kind].add(track)
        if kind == "video":
            self.request_keyframe()
        return track

    def remove_viewer_track(self, track: PacketTrack) -> None:
        """Stop and forget a viewer track."""
        self._viewers[track.kind].discard(track)
        track.stop()

    def add_sink(self, sink: PacketSink) -> None:
        """Attach a sink; AAC encoding starts with the first sink."""
        if self._aac is None:
            self._aac = AudioEncoder("aac", self._config.aac_bitrate)
            self.encoders_created += 1
            self._audio_anchored = False
        self._sinks.append(sink)
        self.request_keyframe()

    def remove_sink(self, sink: PacketSink) -> None:
        """Detach a sink (it is not closed here)."""
        if sink in self._sinks:
            self._sinks.remove(sink)

    @property
    def aac_extradata(self) -> bytes | None:
        """AAC configuration for muxers, once a sink exists."""
        return None if self._aac is None else self._aac.extradata

    # -- publisher -----------------------------------------------------------

    def source_started(self) -> None:
        """A publisher (re)connected: its first frame becomes a key frame."""
        self._audio_anchored = False
        self.request_keyframe()
        self._notify_source(True)

    def source_stopped(self) -> None:
        """The publisher went away: stop its pumps, tell the sinks."""
        for task in list(self._tasks):
            task.cancel()
        self._notify_source(False)

    def attach(self, track: MediaStreamTrack) -> None:
        """Consume a publisher track (any ``MediaStreamTrack`` producing frames)."""
        pump = self._pump_video if track.kind == "video" else self._pump_audio
        task = asyncio.ensure_future(pump(track))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notify_source(self, live: bool) -> None:
        for sink in list(self._sinks):
            try:
                sink.on_source(live)
            except Exception:
                report_sink_failure(sink)

    # -- encoding --------------------------------------------------------------

    def _next_video_pts(self) -> int:
        pts = max(self._last_video_pts + 1, round(self.now_seconds() * 90000))
        self._last_video_pts = pts
        return pts

    async def _pump_video(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, VideoFrame)
            self.frames_received += 1
            pts, key = self._next_video_pts(), self._force_key
            self._force_key = False
            packets = await loop.run_in_executor(
                self._executor, self._video.encode, frame, pts, key
            )
            self._fan_out("video", packets)

    async def _pump_audio(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, AudioFrame)
            self._encode_audio(frame)

    def _encode_audio(self, frame: AudioFrame) -> None:
        if not self._audio_anchored:
            anchor = round(self.now_seconds() * 48000)
            for encoder in (self._opus, self._aac):
                if encoder is not None:
                    encoder.anchor(anchor)
            self._audio_anchored = True
        self._fan_out("opus", self._opus.encode(frame))
        if self._aac is not None:
            self._fan_out("aac", self._aac.encode(frame))

    def _fan_out(self, kind: PacketKind, packets: list[EncodedPacket]) -> None:
        viewers = self._viewers["video" if kind == "video" else "audio"]
        for packet in packets:
            if kind != "aac":
                for track in viewers:
                    track.push(packet)
            if kind != "opus":
                self._deliver(kind, packet)

    def _deliver(self, kind: PacketKind, packet: EncodedPacket) -> None:
        for sink in self._sinks:
            try:
                sink.on_packet(kind, packet)
            except Exception:
                report_sink_failure(sink)

    async def stop(self) -> None:
        """End every pump and viewer track and release the encoder thread."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for tracks in self._viewers.values():
            for track in list(tracks):
                self.remove_viewer_track(track)
        self._executor.shutdown(wait=True)
