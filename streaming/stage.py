"""A stage: one publisher (WHIP), many WebRTC viewers (WHEP), HLS and recording.

The stage owns its peer connections and hands media to a :class:`StageHub`.
Signalling is non-trickle: an answer is returned only once ICE gathering is
complete, as WHIP and WHEP expect.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from .aiortc_compat import on_keyframe_request, prefer_codec, rtc_configuration
from .config import StreamingConfig
from .errors import StreamingError
from .hls import HlsPackager
from .hub import StageHub
from .recorder import Recorder
from .sdp import validate_offer

__all__ = ["Stage", "StageEvent", "StageListener"]

logger = logging.getLogger(__name__)

_CODEC_FOR_KIND = {"video": "video/H264", "audio": "audio/opus"}


@dataclass(frozen=True)
class StageEvent:
    """A change the server turns into a socket event (``stage.live``, ``stage.offline``,
    ``stage.viewers``)."""

    stage_id: str
    kind: Literal["stage.live", "stage.offline", "stage.viewers"]
    live: bool
    viewer_count: int


StageListener = Callable[[StageEvent], None]


@dataclass
class _Session:
    session_id: str
    pc: RTCPeerConnection | None
    tracks: list[MediaStreamTrack] = field(default_factory=list)


class Stage:
    """One webcast stage. Create it through :meth:`MediaEngine.stage`."""

    def __init__(
        self, stage_id: str, config: StreamingConfig, listener: StageListener | None = None
    ) -> None:
        self.stage_id = stage_id
        self._config = config
        self._listener = listener
        self.hub = StageHub(config)
        self._publisher: _Session | None = None
        self._publishing = False
        self._viewers: dict[str, _Session] = {}
        self._pending_views = 0
        self._relay = MediaRelay() if config.fanout == "relay" else None
        self._source_tracks: list[MediaStreamTrack] = []
        self._hls: HlsPackager | None = None
        self._recorder: Recorder | None = None
        self._closed = False

    # -- state ------------------------------------------------------------------

    @property
    def live(self) -> bool:
        """Whether a publisher is connected."""
        return self._publisher is not None

    @property
    def viewer_count(self) -> int:
        """Number of WebRTC viewer sessions."""
        return len(self._viewers)

    @property
    def hls_playlist(self) -> Path | None:
        """The live HLS playlist, when HLS is enabled."""
        return None if self._hls is None else self._hls.playlist_path

    @property
    def recording_path(self) -> Path | None:
        """The file being recorded, if a recording runs."""
        return None if self._recorder is None else self._recorder.path

    def _emit(self, kind: Literal["stage.live", "stage.offline", "stage.viewers"]) -> None:
        if self._listener is not None:
            self._listener(StageEvent(self.stage_id, kind, self.live, self.viewer_count))

    # -- negotiation ---------------------------------------------------------------

    def _new_session(self, on_gone: Callable[[str], Awaitable[None]]) -> _Session:
        session_id = _new_id()
        pc = RTCPeerConnection(rtc_configuration(self._config.ice_servers))

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                asyncio.ensure_future(on_gone(session_id))

        return _Session(session_id, pc)

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
        """
        self._check_open()
        validate_offer(offer_sdp, "publish")
        if self._publishing:
            raise StreamingError("stage.busy", "someone is already publishing on this stage")
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
            return
        self.hub.source_started()
        for track in tracks:
            self.hub.attach(track)

    async def unpublish(self, session_id: str) -> None:
        """End the publisher session (WHIP DELETE). Viewers stay and wait for the next one."""
        session = self._publisher
        if session is None or session.session_id != session_id:
            raise StreamingError("session.not_found", "no such publisher session")
        self._publisher = None
        self._publishing = False
        self._source_tracks = []
        self.hub.source_stopped()
        if session.pc is not None:
            await session.pc.close()
        else:
            for track in session.tracks:
                track.stop()
        self._emit("stage.offline")

    async def _publisher_gone(self, session_id: str) -> None:
        if self._publisher is not None and self._publisher.session_id == session_id:
            await self.unpublish(session_id)

    # -- viewing -------------------------------------------------------------------

    async def view(self, offer_sdp: str) -> tuple[str, str]:
        """Accept a WHEP offer; returns ``(session_id, answer_sdp)``.

        Raises ``stage.viewer_cap`` when the WebRTC viewer cap is reached (the
        server should point such viewers at HLS) and ``sdp.invalid``.
        """
        self._check_open()
        parsed = validate_offer(offer_sdp, "view", require_stage_codecs=self._relay is None)
        if len(self._viewers) + self._pending_views >= self._config.viewer_cap:
            raise StreamingError("stage.viewer_cap", "the stage has reached its viewer cap")
        kinds = sorted({m.kind for m in parsed.media if m.port != 0})
        self._pending_views += 1
        try:
            session = await self._start_viewer(offer_sdp, kinds)
        finally:
            self._pending_views -= 1
        self._viewers[session.session_id] = session
        self._emit("stage.viewers")
        assert session.pc is not None
        return session.session_id, session.pc.localDescription.sdp

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
        if kind == "video":
            on_keyframe_request(transceiver.sender, self.hub.request_keyframe)
        return track

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

    async def stop_view(self, session_id: str) -> None:
        """End a viewer session (WHEP DELETE)."""
        session = self._viewers.pop(session_id, None)
        if session is None:
            raise StreamingError("session.not_found", "no such viewer session")
        self._drop_tracks(session)
        if session.pc is not None:
            await session.pc.close()
        self._emit("stage.viewers")

    async def _viewer_gone(self, session_id: str) -> None:
        if session_id in self._viewers:
            await self.stop_view(session_id)

    # -- HLS and recording --------------------------------------------------------------

    def start_hls(self) -> Path:
        """Start the live HLS packager (the engine does this when HLS is enabled)."""
        if self._hls is None:
            self._hls = HlsPackager(self._config.hls_root / self.stage_id, self._config, self.hub)
            self.hub.add_sink(self._hls)
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
        sessions = list(self._viewers.values())
        self._viewers.clear()
        for session in sessions:
            self._drop_tracks(session)
        if self._publisher is not None:
            sessions.append(self._publisher)
            self._publisher = None
        closing = [s.pc.close() for s in sessions if s.pc is not None]
        await asyncio.gather(*closing, return_exceptions=True)
        await self.hub.stop()
        if self._recorder is not None:
            self.stop_recording()
        if self._hls is not None:
            self.hub.remove_sink(self._hls)
            self._hls.close()


def _new_id() -> str:
    return secrets.token_urlsafe(12)
