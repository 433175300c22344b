"""A stage: one publisher (WHIP), many WebRTC viewers (WHEP), HLS and recording.

The stage owns its peer connections and hands media to a :class:`StageHub`.
Signalling is non-trickle: an answer is returned only once ICE gathering is
complete, as WHIP and WHEP expect.

A publisher that vanishes without a WHIP DELETE (crash, network loss) keeps its
peer connection for about 30 s until ICE consent fails. The stage does not wait
for that: a publisher that sent no media for :data:`SILENCE_SECONDS` counts as
gone (offline, HLS discontinuity, viewers keep their sessions), and a new WHIP
offer takes the stage over from a publisher silent for
:data:`EVICT_AFTER_SECONDS`. A publisher that is sending still gets ``stage.busy``.

A WebRTC session (publisher or viewer) whose ICE and DTLS have not completed
within ``StreamingConfig.connect_timeout`` seconds of its offer is closed: a
viewer that never answers ICE stops counting toward the viewer cap.

The viewer count is WebRTC sessions plus HLS players that reported within
:data:`HLS_VIEWER_TTL` seconds (:meth:`Stage.hls_heartbeat`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from .aiortc_compat import (
    limit_retransmissions,
    on_keyframe_request,
    on_receiver_feedback,
    prefer_codec,
    rtc_configuration,
)
from .config import StreamingConfig
from .errors import StreamingError
from .hls import HlsLadder
from .hub import LoopLag, StageHub
from .ladder import RenditionChooser
from .recorder import Recorder
from .sdp import validate_offer
from .tracks import PacketTrack
from .workers import StageRelay, Worker, WorkerLink, WorkerPool

__all__ = ["Stage", "StageEvent", "StageListener"]

logger = logging.getLogger(__name__)

_CODEC_FOR_KIND = {"video": "video/H264", "audio": "audio/opus"}

# No audio or video frame from the publisher for this long: it counts as gone.
SILENCE_SECONDS = 2.0
# A new WHIP offer replaces a publisher that has been silent this long (instead of 409).
EVICT_AFTER_SECONDS = 1.0
# A new publisher's first frame may take this long (ICE, DTLS, the first key frame) before
# its silence starts to count.
START_GRACE_SECONDS = 3.0
# How often the stage looks at its publisher's silence and its HLS viewers.
WATCH_INTERVAL = 0.25
# An HLS player counts as a viewer for this long after its last report.
HLS_VIEWER_TTL = 30.0
# A viewer's lost video packets are resent within this share of what their rendition sends
# (aiortc_compat.limit_retransmissions), at least of MIN_RETRANSMIT_BPS (a still picture).
RETRANSMIT_SHARE = 0.15
MIN_RETRANSMIT_BPS = 300_000
# One signed-in person counts at most this many HLS players (tabs, devices).
HLS_PLAYERS_PER_OWNER = 4


@dataclass(frozen=True)
class StageEvent:
    """A change the server turns into a socket event (``stage.live``, ``stage.offline``,
    ``stage.viewers``)."""

    stage_id: str
    kind: Literal["stage.live", "stage.offline", "stage.viewers"]
    live: bool
    viewer_count: int
    webrtc_viewers: int = 0
    hls_viewers: int = 0


StageListener = Callable[[StageEvent], None]


@dataclass
class _Session:
    session_id: str
    pc: RTCPeerConnection | None
    tracks: list[MediaStreamTrack] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    owner: str = ""
    deadline: asyncio.TimerHandle | None = None

    def cancel_deadline(self) -> None:
        """ICE and DTLS completed, or the session ended: the connect deadline is off."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None


class Stage:
    """One webcast stage. Create it through :meth:`MediaEngine.stage`."""

    def __init__(
        self, stage_id: str, config: StreamingConfig, listener: StageListener | None = None,
        loop_lag: LoopLag | None = None, workers: WorkerPool | None = None,
        mirror: WorkerLink | None = None,
    ) -> None:
        self.stage_id = stage_id
        self._loop_lag = loop_lag
        self._config = config
        self._listener = listener
        self.hub = StageHub(config)
        self.hub.on_resumed = self._publisher_resumed
        # The origin of a node with forwarding processes places viewers on them too
        # (streaming/workers.py); a forwarding process's stage mirrors the origin's.
        self._workers = workers
        self._mirror = mirror
        if mirror is not None:
            self.hub.upstream_keyframe = lambda: mirror.keyframe(stage_id)
        self._remote: dict[str, tuple[Worker, str]] = {}  # session -> (process, owner)
        self._offering: dict[Worker, int] = {}  # offers passed to a process, not answered yet
        self._publisher: _Session | None = None
        self._publishing = False
        self._viewers: dict[str, _Session] = {}
        self._pending_views = 0
        self._relay = MediaRelay() if config.fanout == "relay" else None
        self._source_tracks: list[MediaStreamTrack] = []
        self._hls: HlsLadder | None = None
        self._recorder: Recorder | None = None
        self._hls_viewers: dict[tuple[str, str], float] = {}  # (owner, client) -> expiry
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # hang-ups in progress
        self._closed = False

    # -- state ------------------------------------------------------------------

    @property
    def live(self) -> bool:
        """Whether a publisher is connected and sending."""
        return self._publisher is not None and not self.hub.stalled

    @property
    def viewer_count(self) -> int:
        """Everyone watching: WebRTC sessions plus HLS players that reported recently."""
        return self.webrtc_viewer_count + self.hls_viewer_count

    @property
    def webrtc_viewer_count(self) -> int:
        """Number of WebRTC (WHEP) viewer sessions, on this process and the node's forwarding
        processes."""
        return len(self._viewers) + len(self._remote)

    @property
    def local_viewer_count(self) -> int:
        """WebRTC viewer sessions this process sends to."""
        return len(self._viewers)

    @property
    def hls_viewer_count(self) -> int:
        """HLS players whose last report is younger than :data:`HLS_VIEWER_TTL`."""
        now = time.monotonic()
        return sum(1 for expires in self._hls_viewers.values() if expires > now)

    @property
    def hls_playlist(self) -> Path | None:
        """The live HLS master playlist, when HLS is enabled."""
        return None if self._hls is None else self._hls.playlist_path

    @property
    def hls_variants(self) -> list[Path]:
        """The media playlist of each rendition, best first (none without HLS)."""
        return [] if self._hls is None else [p.playlist_path for p in self._hls.packagers]

    @property
    def recording_path(self) -> Path | None:
        """The file being recorded, if a recording runs."""
        return None if self._recorder is None else self._recorder.path

    @property
    def recording_position(self) -> float | None:
        """Seconds recorded so far (file time, pauses excluded), if a recording runs."""
        return None if self._recorder is None else self._recorder.position

    def _emit(self, kind: Literal["stage.live", "stage.offline", "stage.viewers"]) -> None:
        if self._listener is not None and self._mirror is None:  # the origin speaks for it
            webrtc, hls = self.webrtc_viewer_count, self.hls_viewer_count
            event = StageEvent(self.stage_id, kind, self.live, webrtc + hls, webrtc, hls)
            self._listener(event)

    # -- negotiation ---------------------------------------------------------------

    def _new_session(self, on_gone: Callable[[str], Coroutine[Any, Any, None]]) -> _Session:
        """A peer connection that calls ``on_gone`` when it fails, closes, or has not
        connected within ``connect_timeout`` seconds."""
        pc = RTCPeerConnection(rtc_configuration(self._config.current_ice_servers()))
        session = _Session(_new_id(), pc)

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState in ("connected", "failed", "closed"):
                session.cancel_deadline()
            if pc.connectionState in ("failed", "closed"):
                self._spawn(on_gone(session.session_id))

        session.deadline = asyncio.get_running_loop().call_later(
            self._config.connect_timeout, self._not_connected, session, on_gone)
        return session

    def _not_connected(
        self, session: _Session, on_gone: Callable[[str], Coroutine[Any, Any, None]]
    ) -> None:
        session.deadline = None
        logger.info("stage %s: session %s did not connect within %.1f s, closing it",
                    self.stage_id, session.session_id, self._config.connect_timeout)
        self._spawn(on_gone(session.session_id))
        if session.pc is not None:  # also when the session never got registered
            self._spawn(session.pc.close())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a hang-up in the background, owned by the stage until it ends."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("stage %s: hang-up failed", self.stage_id, exc_info=task.exception())

    async def _answer(self, pc: RTCPeerConnection, offer: str) -> str:
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except StreamingError:
            raise
        except Exception as exc:  # aiortc raises ValueError/OperationError on bad offers
            await pc.close()
            raise StreamingError("sdp.invalid", f"cannot answer the offer: {exc}") from exc
        return pc.localDescription.sdp

    # -- publishing --------------------------------------------------------------

    async def publish(self, offer_sdp: str) -> tuple[str, str]:
        """Accept a WHIP offer; returns ``(session_id, answer_sdp)``.

        Raises ``stage.busy`` while someone else publishes, ``sdp.invalid`` for a bad offer.
        A publisher whose media stopped :data:`EVICT_AFTER_SECONDS` ago is replaced instead.
        """
        self._check_open()
        validate_offer(offer_sdp, "publish")
        if self._publishing:
            current = self._publisher
            if current is None or not self._silent_for(current, EVICT_AFTER_SECONDS):
                raise StreamingError("stage.busy", "someone is already publishing on this stage")
            logger.info("stage %s: a new publisher replaces silent %s", self.stage_id,
                        current.session_id)
            await self._drop_publisher(current)  # the stage stays reserved for this offer
        self._publishing = True
        try:
            return await self._start_publisher(offer_sdp)
        except BaseException:
            self._publishing = False
            raise

    async def _start_publisher(self, offer_sdp: str) -> tuple[str, str]:
        session = self._new_session(self._publisher_gone)
        assert session.pc is not None
        session.pc.on("track", session.tracks.append)
        answer = await self._answer(session.pc, offer_sdp)
        session.started_at = time.monotonic()
        self._publisher = session
        self._start_source(session.tracks)
        self._emit("stage.live")
        return session.session_id, answer

    def attach_source(self, *tracks: MediaStreamTrack) -> str:
        """Publish local tracks (a test pattern, a file player) instead of a WebRTC peer.

        Returns a session id for :meth:`unpublish`; raises ``stage.busy`` like :meth:`publish`.
        """
        self._check_open()
        if self._publishing:
            raise StreamingError("stage.busy", "someone is already publishing on this stage")
        self._publishing = True
        self._publisher = _Session(_new_id(), None, list(tracks))
        self._start_source(list(tracks))
        self._emit("stage.live")
        return self._publisher.session_id

    def _start_source(self, tracks: list[MediaStreamTrack]) -> None:
        self._source_tracks = tracks
        if self._relay is not None:
            return  # the relay baseline has no hub, hence no silence watch either
        self.hub.source_started()
        for track in tracks:
            self.hub.attach(track)
        self._ensure_watcher()

    async def unpublish(self, session_id: str) -> None:
        """End the publisher session (WHIP DELETE). Viewers stay and wait for the next one."""
        session = self._publisher
        if session is None or session.session_id != session_id:
            raise StreamingError("session.not_found", "no such publisher session")
        self._publishing = False
        await self._drop_publisher(session)

    async def _drop_publisher(self, session: _Session) -> None:
        """Forget the publisher at once (a concurrent offer sees no one to replace), tell
        viewers and sinks, then hang up. ``_publishing`` is the caller's business."""
        was_live = self.live
        self._publisher = None
        session.cancel_deadline()
        self._source_tracks = []
        self.hub.source_stopped()
        if was_live:
            self._emit("stage.offline")
        if session.pc is not None:
            await session.pc.close()
        else:
            for track in session.tracks:
                track.stop()

    async def _publisher_gone(self, session_id: str) -> None:
        if self._publisher is not None and self._publisher.session_id == session_id:
            await self.unpublish(session_id)

    # -- the silence watch ----------------------------------------------------------

    def _silence(self, session: _Session) -> float:
        """Seconds since the publisher's last frame; a new publisher gets a grace period."""
        last = self.hub.last_frame_at
        since = session.started_at + START_GRACE_SECONDS if last is None else last
        return max(0.0, time.monotonic() - since)

    def _silent_for(self, session: _Session, seconds: float) -> bool:
        return self._relay is None and self._silence(session) > seconds

    def _publisher_resumed(self) -> None:
        """The hub saw a frame from a publisher it had marked stalled."""
        if self._publisher is not None:
            logger.info("stage %s: the publisher sends again", self.stage_id)
            self._emit("stage.live")

    def _ensure_watcher(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        """Publisher silence and HLS viewer expiry, a few times a second, until closed."""
        while not self._closed:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                self._check_silence()
                self._expire_hls_viewers()
            except Exception:  # the watch must outlive a listener's bug
                logger.exception("stage %s: watch failed", self.stage_id)

    def _check_silence(self) -> None:
        session = self._publisher
        if session is None or self.hub.stalled or not self._silent_for(session, SILENCE_SECONDS):
            return
        logger.warning("stage %s: no media from the publisher for %.1f s, treating it as gone",
                       self.stage_id, self._silence(session))
        self.hub.source_stalled()
        self._emit("stage.offline")

    # -- viewing -------------------------------------------------------------------

    async def view(self, offer_sdp: str, owner: str = "") -> tuple[str, str]:
        """Accept a WHEP offer; returns ``(session_id, answer_sdp)``.

        ``owner`` names who asked (opaque here; :meth:`viewer_sessions` lists theirs).
        Raises ``stage.viewer_cap`` when the WebRTC viewer cap is reached (the
        server should point such viewers at HLS) and ``sdp.invalid``. With forwarding
        processes the viewer goes to the least busy process that takes them.
        """
        self._check_open()
        parsed = validate_offer(offer_sdp, "view", require_stage_codecs=self._relay is None)
        refused = StreamingError("stage.viewer_cap", "the stage has reached its viewer cap")
        for worker in self._placements():
            if worker is None:
                reason = self.refuses_viewers()
                if reason is None:
                    return await self._view_here(offer_sdp, owner, parsed)
                refused = StreamingError("stage.viewer_cap", reason)
                continue
            try:
                return await self._view_on(worker, offer_sdp, owner)
            except StreamingError as exc:
                if exc.code != "stage.viewer_cap":
                    raise
                refused = exc
        raise refused

    def refuses_viewers(self) -> str | None:
        """Why this process takes no new WebRTC viewer of the stage now (``None``: it does):
        the cap is an upper bound; what the process carries rules."""
        if len(self._viewers) + self._pending_views >= self._config.viewer_cap:
            return "the stage has reached its viewer cap"
        adaptive = self._config.viewer_lag_limit > 0
        if adaptive and (self.hub.falling_behind()
                         or (self._loop_lag is not None and self._loop_lag.behind())):
            return "the stage's fan-out is falling behind: new viewers get HLS"
        return None

    def _placements(self) -> list[Worker | None]:
        """Where a new viewer may go, best first (``None``: this process; the only place
        without forwarding processes)."""
        if self._workers is None or self._relay is not None or not self._workers.live():
            return [None]
        return self._workers.placements(self.hub.fan_out_busy, self._pending_views)

    async def _view_here(self, offer_sdp: str, owner: str, parsed: Any) -> tuple[str, str]:
        kinds = sorted({m.kind for m in parsed.media if m.port != 0})
        self._pending_views += 1
        try:
            session = await self._start_viewer(offer_sdp, kinds)
        finally:
            self._pending_views -= 1
        if self._workers is not None:
            self._workers.here.add()
        session.owner = owner
        self._viewers[session.session_id] = session
        self._emit("stage.viewers")
        assert session.pc is not None
        return session.session_id, session.pc.localDescription.sdp

    async def _view_on(self, worker: Worker, offer_sdp: str, owner: str) -> tuple[str, str]:
        # Frames flow to the process before its viewer's DTLS completes, so that its first
        # key frame is there when it is.
        if not any(r.worker is worker for r in self.hub.relays):
            self.hub.relays.add(StageRelay(worker, self.stage_id))
        self._offering[worker] = self._offering.get(worker, 0) + 1
        try:
            session_id, answer = await worker.view(self.stage_id, offer_sdp, owner)
            self._remote[session_id] = (worker, owner)
        finally:
            self._offering[worker] -= 1
            if not self._offering[worker]:
                del self._offering[worker]
            self._forget_relay(worker)  # kept while it has a session or an offer here
        self._emit("stage.viewers")
        return session_id, answer

    def _forget_relay(self, worker: Worker) -> None:
        """No more frames to a process none of whose sessions (or offers) watch this stage."""
        if worker not in self._offering and not any(
                w is worker for w, _ in self._remote.values()):
            self.hub.relays = {r for r in self.hub.relays if r.worker is not worker}

    def remote_session_gone(self, session_id: str) -> None:
        """A forwarding process's viewer ended by itself (left, ICE failed, never connected)."""
        held = self._remote.pop(session_id, None)
        if held is not None:
            self._forget_relay(held[0])
            self._emit("stage.viewers")

    def worker_lost(self, worker: Worker) -> None:
        """A forwarding process went away: its viewers reconnect and are placed again."""
        gone = [s for s, (w, _) in self._remote.items() if w is worker]
        for session_id in gone:
            del self._remote[session_id]
        self._forget_relay(worker)
        if gone:
            self._emit("stage.viewers")

    async def _start_viewer(self, offer_sdp: str, kinds: list[str]) -> _Session:
        session = self._new_session(self._viewer_gone)
        assert session.pc is not None
        for kind in kinds:
            session.tracks.append(self._add_viewer_track(session.pc, kind))
        try:
            await self._answer(session.pc, offer_sdp)
        except BaseException:
            self._drop_tracks(session)
            raise
        return session

    def _add_viewer_track(self, pc: RTCPeerConnection, kind: str) -> MediaStreamTrack:
        if self._relay is not None:
            return self._add_relayed_track(pc, kind)
        track = self.hub.add_viewer_track(kind)
        transceiver = pc.addTransceiver(track, direction="sendonly")
        prefer_codec(transceiver, _CODEC_FOR_KIND[kind])
        track.bind(transceiver.sender)  # first: the retransmission budget wraps its NACKs
        if kind == "video":
            on_keyframe_request(transceiver.sender, self.hub.request_keyframe)
            limit_retransmissions(transceiver.sender, lambda: RETRANSMIT_SHARE * max(
                self.hub.rendition_bps(track.rendition), MIN_RETRANSMIT_BPS))
            if len(self._config.renditions) > 1:
                chooser = RenditionChooser(self._config.renditions, self.hub.rendition_bps)
                on_receiver_feedback(transceiver.sender, lambda counts, remb: self._adapt(
                    track, chooser, counts, remb))
        return track

    def _adapt(self, track: PacketTrack, chooser: RenditionChooser,
               counts: tuple[int, int] | None, remb: int | None) -> None:
        """A viewer's browser reported on their video: move them to another rendition when
        their line asks for it (streaming/ladder.py)."""
        target = chooser.feedback(counts, remb)
        if target is not None:
            logger.info("stage %s: a viewer moves to %s (estimate %s)", self.stage_id,
                        self._config.renditions[target].label, remb)
            self.hub.switch(track, target)

    def _add_relayed_track(self, pc: RTCPeerConnection, kind: str) -> MediaStreamTrack:
        assert self._relay is not None
        source = next((t for t in self._source_tracks if t.kind == kind), None)
        if source is None:
            raise StreamingError("stage.offline", f"no {kind} is being published")
        track = self._relay.subscribe(source)
        pc.addTransceiver(track, direction="sendonly")
        return track

    def _drop_tracks(self, session: _Session) -> None:
        for track in session.tracks:
            if self._relay is None:
                self.hub.remove_viewer_track(track)  # type: ignore[arg-type]
            else:
                track.stop()

    def viewer_sessions(self, owner: str) -> list[str]:
        """The viewer sessions of ``owner``, oldest first (those on this process first)."""
        return ([s.session_id for s in self._viewers.values() if s.owner == owner]
                + [s for s, (_, o) in self._remote.items() if o == owner])

    async def stop_view(self, session_id: str) -> None:
        """End a viewer session (WHEP DELETE)."""
        remote = self._remote.pop(session_id, None)
        if remote is not None:
            self._forget_relay(remote[0])
            self._emit("stage.viewers")
            with contextlib.suppress(StreamingError):  # it may have ended there meanwhile
                await remote[0].stop_view(self.stage_id, session_id)
            return
        session = self._viewers.pop(session_id, None)
        if session is None:
            raise StreamingError("session.not_found", "no such viewer session")
        if self._mirror is not None:
            self._mirror.session_gone(self.stage_id, session_id)
        session.cancel_deadline()
        self._drop_tracks(session)
        if session.pc is not None:
            await session.pc.close()
        self._emit("stage.viewers")

    async def _viewer_gone(self, session_id: str) -> None:
        if session_id in self._viewers:
            await self.stop_view(session_id)

    # -- HLS viewers ---------------------------------------------------------------------

    def hls_heartbeat(self, client_id: str, owner: str) -> None:
        """An HLS player (``client_id``, random per page) of ``owner`` (who is signed in) is
        playing; it counts for :data:`HLS_VIEWER_TTL` seconds. One owner counts at most
        :data:`HLS_PLAYERS_PER_OWNER` players: a further one replaces the owner's oldest."""
        self._check_open()
        key = (owner, client_id)
        before = self.hls_viewer_count
        if key not in self._hls_viewers:
            mine = sorted((exp, k) for k, exp in self._hls_viewers.items() if k[0] == owner)
            for _, old in mine[: max(0, len(mine) - HLS_PLAYERS_PER_OWNER + 1)]:
                del self._hls_viewers[old]
        self._hls_viewers[key] = time.monotonic() + HLS_VIEWER_TTL
        self._ensure_watcher()
        if self.hls_viewer_count != before:
            self._emit("stage.viewers")

    def hls_leave(self, client_id: str, owner: str) -> None:
        """The HLS player stopped (page closed); unknown players are ignored."""
        expires = self._hls_viewers.pop((owner, client_id), None)
        if expires is not None and expires > time.monotonic():
            self._emit("stage.viewers")

    def _expire_hls_viewers(self) -> None:
        now = time.monotonic()
        gone = [key for key, expires in self._hls_viewers.items() if expires <= now]
        for key in gone:
            del self._hls_viewers[key]
        if gone:
            self._emit("stage.viewers")

    # -- HLS and recording --------------------------------------------------------------

    def start_hls(self) -> Path:
        """Start the live HLS packager (the engine does this when HLS is enabled)."""
        if self._hls is None:
            self._hls = HlsLadder(self._config.hls_root / self.stage_id, self._config, self.hub)
        return self._hls.playlist_path

    def start_recording(self) -> Path:
        """Start recording to a fragmented MP4 under the recordings root; returns its path."""
        self._check_open()
        if self._recorder is not None:
            raise StreamingError("recording.active", "the stage is already being recorded")
        folder = self._config.recordings_root / self.stage_id
        self._recorder = Recorder(folder, self._config, self.hub)
        self.hub.add_sink(self._recorder)
        return self._recorder.path

    def stop_recording(self) -> Path:
        """Finish the recording and return the path of the complete file."""
        recorder = self._recorder
        if recorder is None:
            raise StreamingError("recording.not_active", "the stage is not being recorded")
        self._recorder = None
        self.hub.remove_sink(recorder)
        recorder.close()
        return recorder.path

    # -- lifecycle -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StreamingError("engine.not_running", "the stage is closed")

    async def close(self) -> None:
        """Close every peer connection, the packager and the recorder."""
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        sessions = list(self._viewers.values())
        self._viewers.clear()
        for session in sessions:
            self._drop_tracks(session)
        remote, self._remote = list(self._remote.items()), {}
        self.hub.relays = set()
        await asyncio.gather(*(worker.stop_view(self.stage_id, session_id)
                               for session_id, (worker, _) in remote), return_exceptions=True)
        if self._publisher is not None:
            sessions.append(self._publisher)
            self._publisher = None
        for session in sessions:
            session.cancel_deadline()
        closing = [s.pc.close() for s in sessions if s.pc is not None]
        await asyncio.gather(*closing, *self._tasks, return_exceptions=True)
        await self.hub.stop()
        if self._recorder is not None:
            self.stop_recording()
        if self._hls is not None:
            self._hls.close()


def _new_id() -> str:
    return secrets.token_urlsafe(12)
