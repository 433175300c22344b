"""Encode once, fan out: the heart of a stage.

The hub consumes the publisher's decoded tracks, encodes each frame exactly
once per rendition (H.264 for video at each size of the ladder, Opus for WebRTC
audio, AAC when an HLS or recording sink wants it) and hands the resulting
packets to every viewer track and sink. A video viewer takes one rendition and
moves to another at that rendition's next key frame (:meth:`StageHub.switch`),
without renegotiation: the browser's decoder follows the new SPS.
Timestamps come from the hub's own clock, never from the incoming frames, so
a publisher that drops and comes back continues the same timeline.

Forced key frames are rate limited (:class:`KeyframeGate`): a crowd joining at
once or a PLI/FIR flood costs at most one IDR per :data:`KEYFRAME_MIN_INTERVAL`,
and a request inside the window is kept and served when the window ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame

from .config import StreamingConfig
from .encoders import AudioEncoder, EncodedPacket, VideoEncoder
from .ladder import RateMeter
from .rtp_stream import PreparedFrame
from .tracks import PacketTrack

if TYPE_CHECKING:
    from .workers import StageRelay

__all__ = [
    "BEHIND_SHARE", "KEYFRAME_MIN_INTERVAL", "KeyframeGate", "PacketKind", "PacketSink", "StageHub",
]

logger = logging.getLogger(__name__)

PacketKind = Literal["video", "opus", "aac"]

# Seconds between two key frames the hub forces. Long enough that an IDR storm cannot eat the
# bitrate, short enough that a joining viewer waits well under a second, and under a quarter of
# the 2 s HLS segment so a segment cut asked for at its target is never pushed past ~2.1 s.
KEYFRAME_MIN_INTERVAL = 0.4


# The fan-out is behind when sending every viewer's packets took more than this share of the
# wall clock, smoothed over about 0.7 s: the rest of the process (RTCP, ICE, the
# publisher, new viewers) would starve first.
BEHIND_SHARE = 0.5
# One sample per BUSY_WINDOW of wall clock, not per frame: frames that arrive together (from
# a forwarding process's link, or after a stall) would each count a tiny elapsed time and
# read as fully busy. Smoothed over about 0.7 s.
BUSY_WINDOW = 0.1
BUSY_SMOOTHING = 0.15
# The fan-out sends for at most this long before the event loop runs other work.
SEND_SLICE = 0.005
# Packets (of every rendition and the audio) waiting to be sent beyond which the fan-out is
# behind (new viewers go elsewhere), and beyond which the oldest are dropped: a second or so
# of the stage, where a viewer would rather skip to a new key frame than fall further back.
BACKLOG_BEHIND = 100
BACKLOG_LIMIT = 400


class LoopLag:
    """How late the media process's event loop runs what is due: a task asks to wake every
    INTERVAL_S and notes how much later it wakes. When the process cannot keep up (every
    viewer's packets are sent from this loop), the lag grows before frames start to drop:
    measured with bench/webcast_fanout.py on this 2-core machine, the 99th percentile was
    24-32 ms while 99.5 % of frames still arrived on time (60-80 viewers) and 60 ms when only
    87 % did (90). `behind()`: more than SHARE of the last WINDOW_S's wake-ups were later than
    LATE_S."""

    INTERVAL_S = 0.02
    WINDOW_S = 5.0
    SHARE = 0.01

    def __init__(self, late_s: float = 0.04) -> None:
        self.LATE_S = late_s  # 0: never behind (the fixed cap alone)
        self._samples: deque[tuple[float, float]] = deque()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def note(self, at: float, lag: float) -> None:
        self._samples.append((at, lag))
        while self._samples and self._samples[0][0] < at - self.WINDOW_S:
            self._samples.popleft()

    def late_share(self) -> float:
        """The share of the last WINDOW_S's wake-ups later than LATE_S (0 with too few)."""
        if self.LATE_S <= 0 or len(self._samples) < 10:
            return 0.0
        return sum(1 for _, lag in self._samples if lag > self.LATE_S) / len(self._samples)

    def behind(self) -> bool:
        return self.late_share() > self.SHARE

    async def _run(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(self.INTERVAL_S)
            now = time.monotonic()
            self.note(now, max(0.0, now - asked - self.INTERVAL_S))


class KeyframeGate:
    """Coalesces key-frame requests on the stage clock (90 kHz pts).

    :meth:`request` never forces anything by itself: :meth:`take` says whether the frame about
    to be encoded at ``pts`` should be an IDR. Requests inside ``min_interval_pts`` of the last
    key frame (forced or the encoder's own) stay pending and the first frame after the window
    takes them all at once; a key frame the encoder produces by itself satisfies what is pending.
    """

    def __init__(self, min_interval_pts: int) -> None:
        self._interval = min_interval_pts
        self._last: int | None = None
        self.pending = False
        self.requests = 0
        self.forced = 0

    def request(self) -> None:
        """Someone needs a key frame (a new viewer, a PLI/FIR, a segment cut)."""
        self.requests += 1
        self.pending = True

    def take(self, pts: int) -> bool:
        """Whether the frame at ``pts`` should be forced to an IDR."""
        if not self.pending:
            return False
        if self._last is not None and pts - self._last < self._interval:
            return False
        self.pending = False
        self._last = pts
        self.forced += 1
        return True

    def keyframe_encoded(self, pts: int) -> None:
        """The encoder produced a key frame at ``pts``: it starts a new window and, since it is
        delivered after this call, it serves every request made before it."""
        self._last = pts
        self.pending = False


class PacketSink(Protocol):
    """Something that consumes a stage's encoded packets (HLS packager, recorder).

    Packets are shared with every other consumer: a sink must copy before muxing.
    """

    def on_packet(self, kind: PacketKind, packet: EncodedPacket) -> None:
        """Receive one H.264 (``video``, of the rendition the sink was added for) or AAC
        (``aac``) packet."""

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
        self._videos = [VideoEncoder(config.fps, config.keyframe_seconds, rendition)
                        for rendition in config.renditions]
        self._rates = [RateMeter() for _ in config.renditions]
        self._opus = AudioEncoder("libopus", config.opus_bitrate)
        self._aac: AudioEncoder | None = None
        self.encoders_created = len(self._videos) + 1
        self._origin = time.monotonic()
        self._last_video_pts = -1
        self._keyframes = KeyframeGate(round(KEYFRAME_MIN_INTERVAL * 90000))
        self._audio_anchored = False
        self._last_frame_at: float | None = None
        self._stalled = False
        self.on_resumed: Callable[[], None] | None = None
        self._viewers: dict[str, set[PacketTrack]] = {"video": set(), "audio": set()}
        # The video viewers again, by the rendition they receive (the fan-out sends each
        # rendition's packets to its own set), and those waiting to move (StageHub.switch).
        self._by_rendition: list[set[PacketTrack]] = [set() for _ in config.renditions]
        self._switching: set[PacketTrack] = set()
        self._sinks: list[tuple[PacketSink, int]] = []  # (sink, rendition of its video)
        self._tasks: set[asyncio.Task[None]] = set()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="stage-encoder")
        self.frames_received = 0
        # The share of the wall clock spent sending to viewers: a moving average, one sample
        # per video frame (the time its fan-out and the audio's since the last took).
        self._busy = 0.0
        self._busy_since = time.perf_counter()
        self._busy_spent = 0.0
        # Frames waiting to be sent, each with the tracks still to get it (see _drain).
        self._sends: deque[tuple[PreparedFrame, list[PacketTrack]]] = deque()
        self._draining = False
        self.packets_dropped = 0
        # Forwarding processes with viewers of this stage (streaming/workers.py): each gets
        # every frame once. In a forwarding process, key-frame needs go to the origin instead.
        self.relays: set[StageRelay] = set()
        self.upstream_keyframe: Callable[[], None] | None = None

    @property
    def video_frames_encoded(self) -> int:
        """How many video frames the stage has encoded (each once per rendition)."""
        return self._videos[0].frames_encoded

    @property
    def video_size(self) -> tuple[int, int] | None:
        """Size of the best rendition, known after the first frame."""
        return self._videos[0].size

    def video_size_of(self, rendition: int) -> tuple[int, int] | None:
        """Size of one rendition, known after the first frame."""
        return self._videos[rendition].size

    @property
    def video_tracks(self) -> list[PacketTrack]:
        """Every viewer's video track."""
        return list(self._viewers["video"])

    def rendition_bps(self, rendition: int) -> float:
        """What one rendition has really sent lately (bits per second)."""
        return self._rates[rendition].bps()

    def viewers_per_rendition(self) -> list[int]:
        """How many video viewers each rendition has now (those moving count where they go)."""
        counts = [len(tracks) for tracks in self._by_rendition]
        for track in self._switching:
            assert track.switch_to is not None
            counts[track.rendition] -= 1
            counts[track.switch_to] += 1
        return counts

    @property
    def keyframes(self) -> KeyframeGate:
        """The rate limiter of forced key frames (its counters are for tests and metrics)."""
        return self._keyframes

    @property
    def last_frame_at(self) -> float | None:
        """``time.monotonic()`` of the publisher's last audio or video frame (``None``: none yet
        from the current publisher)."""
        return self._last_frame_at

    @property
    def stalled(self) -> bool:
        """The publisher is connected but its media stopped (see :meth:`source_stalled`)."""
        return self._stalled

    def request_keyframe(self) -> None:
        """Ask for an IDR soon (new viewer, PLI/FIR, segment cut); rate limited and coalesced
        (in a forwarding process: by the origin, which encodes)."""
        if self.upstream_keyframe is not None:
            self.upstream_keyframe()
            return
        self._keyframes.request()

    def now_seconds(self) -> float:
        """Seconds on the stage clock."""
        return time.monotonic() - self._origin

    # -- viewers and sinks -------------------------------------------------

    def add_viewer_track(self, kind: str) -> PacketTrack:
        """A new track for one viewer; video starts at the next (forced) key frame."""
        track = PacketTrack(kind, self.request_keyframe)
        self._viewers[kind].add(track)
        if kind == "video":
            self._by_rendition[track.rendition].add(track)
            self.request_keyframe()
        return track

    def switch(self, track: PacketTrack, rendition: int) -> None:
        """Move a viewer's video to another rendition at that rendition's next key frame (asked
        for now); until then it goes on receiving the one it has."""
        if not 0 <= rendition < len(self._videos) or track.kind != "video":
            return
        if rendition == track.rendition:
            track.switch_to = None
            self._switching.discard(track)
            return
        track.switch_to = rendition
        self._switching.add(track)
        self.request_keyframe()

    def remove_viewer_track(self, track: PacketTrack) -> None:
        """Stop and forget a viewer track."""
        self._viewers[track.kind].discard(track)
        if track.kind == "video":
            self._by_rendition[track.rendition].discard(track)
            self._switching.discard(track)
        track.stop()

    def add_sink(self, sink: PacketSink, rendition: int = 0) -> None:
        """Attach a sink for one rendition's video (and the AAC); AAC encoding starts with the
        first sink."""
        if self._aac is None:
            self._aac = AudioEncoder("aac", self._config.aac_bitrate)
            self.encoders_created += 1
            self._audio_anchored = False
        self._sinks.append((sink, rendition))
        self.request_keyframe()

    def remove_sink(self, sink: PacketSink) -> None:
        """Detach a sink (it is not closed here)."""
        self._sinks = [(s, r) for s, r in self._sinks if s is not sink]

    @property
    def aac_extradata(self) -> bytes | None:
        """AAC configuration for muxers, once a sink exists."""
        return None if self._aac is None else self._aac.extradata

    # -- publisher -----------------------------------------------------------

    def source_started(self) -> None:
        """A publisher (re)connected: its first frame becomes a key frame."""
        self._stalled = False
        self._last_frame_at = None
        self._audio_anchored = False
        self.request_keyframe()
        self._notify_source(True)

    def source_stopped(self) -> None:
        """The publisher went away: stop its pumps, tell the sinks (unless a stall already did)."""
        for task in list(self._tasks):
            task.cancel()
        if not self._stalled:
            self._notify_source(False)
        self._stalled = False

    def source_stalled(self) -> None:
        """The publisher is still connected but has sent nothing for a while (crash, network
        loss): the sinks treat it as gone (HLS closes its segment, the next one carries a
        discontinuity). Its pumps keep waiting; if a frame comes after all, the stage resumes
        and :attr:`on_resumed` is called."""
        if not self._stalled:
            self._stalled = True
            self._notify_source(False)

    def _frame_arrived(self) -> None:
        self._last_frame_at = time.monotonic()
        if not self._stalled:
            return
        self._stalled = False
        self._audio_anchored = False
        self.request_keyframe()
        self._notify_source(True)
        if self.on_resumed is not None:
            self.on_resumed()

    def attach(self, track: MediaStreamTrack) -> None:
        """Consume a publisher track (any ``MediaStreamTrack`` producing frames)."""
        pump = self._pump_video if track.kind == "video" else self._pump_audio
        task = asyncio.ensure_future(pump(track))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notify_source(self, live: bool) -> None:
        for sink, _ in list(self._sinks):
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
            self._frame_arrived()
            pts = self._next_video_pts()
            key = self._keyframes.take(pts)
            encoded = await loop.run_in_executor(
                self._executor, self._encode_video, frame, pts, key
            )
            if any(p.is_keyframe for p in encoded[0]):
                self._keyframes.keyframe_encoded(pts)
            self._fan_out_video(encoded)

    def _fan_out_video(self, encoded: list[list[EncodedPacket]]) -> None:
        """One frame, encoded in every rendition: to each viewer its rendition, to the sinks
        theirs, then how busy sending keeps the process."""
        self._move_switching(encoded)
        for rendition, packets in enumerate(encoded):
            self._rates[rendition].add(sum(p.size for p in packets))
            self._fan_out("video", packets, rendition)
        for relay in self.relays:
            relay.video(encoded)
        self._measure_busy()

    def relay_video(self, encoded: list[list[Any]]) -> None:
        """A forwarding process: one frame in every rendition, as the origin encoded it."""
        self._fan_out_video(encoded)

    def relay_audio(self, packets: list[Any]) -> None:
        """A forwarding process: the origin's Opus packets."""
        self._fan_out("opus", packets)

    def _move_switching(self, encoded: list[list[EncodedPacket]]) -> None:
        """Viewers waiting to move go over when their new rendition has a key frame in this
        frame: before anything of the frame is sent, so nobody gets it twice in two sizes."""
        for track in list(self._switching):
            target = track.switch_to
            assert target is not None
            if any(p.is_keyframe for p in encoded[target]):
                self._by_rendition[track.rendition].discard(track)
                self._by_rendition[target].add(track)
                track.rendition, track.switch_to = target, None
                self._switching.discard(track)

    def _encode_video(self, frame: VideoFrame, pts: int, key: bool) -> list[list[EncodedPacket]]:
        """Every rendition of one frame, one after the other in the encoder thread (the best
        first: it may use the frame itself, the others scale from it). Their key frames fall
        on the same frames: the same forced ones, the same interval."""
        return [encoder.encode(frame, pts, key) for encoder in self._videos]

    async def _pump_audio(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, AudioFrame)
            self._frame_arrived()
            self._encode_audio(frame)

    def _encode_audio(self, frame: AudioFrame) -> None:
        if not self._audio_anchored:
            anchor = round(self.now_seconds() * 48000)
            for encoder in (self._opus, self._aac):
                if encoder is not None:
                    encoder.anchor(anchor)
            self._audio_anchored = True
        opus = self._opus.encode(frame)
        self._fan_out("opus", opus)
        for relay in self.relays:
            relay.audio(opus)
        if self._aac is not None:
            self._fan_out("aac", self._aac.encode(frame))

    def _fan_out(self, kind: PacketKind, packets: list[EncodedPacket], rendition: int = 0) -> None:
        """Packets to the viewers (cut into RTP payloads once, whoever many they are) and the
        sinks. Packet pts are on the RTP clocks already (90 kHz video, 48 kHz Opus)."""
        if kind == "video":
            viewers = self._by_rendition[rendition]
            for packet in packets:
                if viewers:
                    frame = PreparedFrame.of("video/H264", bytes(packet), int(packet.pts or 0),
                                             bool(packet.is_keyframe))
                    self._sends.append((frame, list(viewers)))
                self._deliver(kind, packet, rendition)
        elif kind == "opus":
            listeners = self._viewers["audio"]
            for packet in packets:
                if listeners:
                    frame = PreparedFrame.of("audio/opus", bytes(packet), int(packet.pts or 0),
                                             True)
                    self._sends.append((frame, list(listeners)))
        else:
            for packet in packets:
                self._deliver(kind, packet)
        if len(self._sends) > BACKLOG_LIMIT:
            dropped = len(self._sends) - BACKLOG_LIMIT
            for _ in range(dropped):
                self._sends.popleft()
            self.packets_dropped += dropped
            self.request_keyframe()  # the pictures continue from the next one
        if self._sends and not self._draining:
            self._drain()

    def _drain(self) -> None:
        """Send what is queued, in order, for at most SEND_SLICE seconds, then let the event
        loop run (RTCP, ICE, joining viewers, the link) before going on. A key frame to
        hundreds of viewers is thousands of packets: sent in one go it held the loop for
        50-100 ms, every time a joining viewer asked for one."""
        started = time.perf_counter()
        deadline = started + SEND_SLICE
        sends = self._sends
        while sends:
            frame, tracks = sends[0]
            while tracks and time.perf_counter() <= deadline:
                tracks.pop().push(frame)
            if tracks:
                break
            sends.popleft()
        self._busy_spent += time.perf_counter() - started
        self._draining = bool(sends)
        if sends:
            asyncio.get_running_loop().call_soon(self._drain)

    def _measure_busy(self) -> None:
        now = time.perf_counter()
        elapsed = now - self._busy_since
        if elapsed < BUSY_WINDOW:
            return
        share = min(1.0, self._busy_spent / elapsed)
        self._busy += BUSY_SMOOTHING * (share - self._busy)
        self._busy_since, self._busy_spent = now, 0.0

    def falling_behind(self) -> bool:
        """Whether the fan-out no longer keeps up: sending to the viewers takes more than
        BEHIND_SHARE of the process's time, or more than BACKLOG_BEHIND packets wait. A new
        viewer would make it worse for everyone."""
        return self._busy > BEHIND_SHARE or len(self._sends) > BACKLOG_BEHIND

    @property
    def fan_out_busy(self) -> float:
        """The smoothed share of the wall clock the fan-out takes (0..1)."""
        return self._busy

    def _deliver(self, kind: PacketKind, packet: EncodedPacket, rendition: int = 0) -> None:
        for sink, wants in self._sinks:
            if kind == "video" and wants != rendition:
                continue
            try:
                sink.on_packet(kind, packet)
            except Exception:
                report_sink_failure(sink)

    async def stop(self) -> None:
        """End every pump and viewer track and release the encoder thread."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._sends.clear()
        for tracks in self._viewers.values():
            for track in list(tracks):
                self.remove_viewer_track(track)
        self._executor.shutdown(wait=True)
