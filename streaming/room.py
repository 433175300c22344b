"""Breakout-room media: a forwarding SFU over aiortc, no decoding and no encoding.

Each participant has one peer connection to the room. Their offer carries
``sendonly`` m-lines (their camera and microphone) and ``recvonly`` m-lines
(slots for the others). The room forwards every publisher's encoded frames to
the slots it assigns them, and tells each participant which publisher a slot
(``mid``) carries. Offers always come from the participant (no glare): when
a participant needs more slots than it has, it adds ``recvonly`` transceivers
and offers again; a free slot is reused without renegotiation.

Video is VP8 (Chromium and aiortc both send it in software), audio Opus.
A subscriber's PLI or FIR is forwarded upstream as a PLI to the publisher,
rate limited per publisher. The active speaker comes from the
``ssrc-audio-level`` RTP header extension the publishers send, read without
decoding. The room never imports the server; it reports changes to a listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpTransceiver, RTCSessionDescription

from .aiortc_compat import (
    OfferedMedia,
    check_aiortc_internals,
    intercept_encoded,
    offered_media,
    on_keyframe_request,
    request_picture,
    restrict_negotiated_codecs,
    rtc_configuration,
)
from .config import IceServers
from .errors import StreamingError
from .forward import AUDIBLE_HANGOVER, ForwardSource, SlotTrack
from .sdp import Purpose, validate_offer

__all__ = [
    "MediaRoom",
    "RoomAnswer",
    "RoomEvent",
    "RoomListener",
    "RoomRegistry",
    "LAST_N",
    "MAX_LAST_N",
    "MAX_AUDIBLE",
    "MAX_PINS",
    "Slot",
]

logger = logging.getLogger(__name__)

ROOM_CODECS = {"video": "video/VP8", "audio": "audio/opus"}
# Louder than -50 dBov counts as speaking; the level must be fresher than this many seconds.
SPEAKING_LEVEL = 50
LEVEL_MAX_AGE = 1.0
SPEAKER_INTERVAL = 0.3
# Last-N: each participant receives the video of the N people who spoke last (or, before
# anyone has, the first to join), plus those they pin; everyone else's video is not sent.
LAST_N = 4
MAX_LAST_N = 9
MAX_PINS = 4
# The audio of at most this many people speaking at once is forwarded (the loudest).
MAX_AUDIBLE = 3

RoomEventKind = Literal["room.publishers", "room.slots", "room.speaker", "room.left"]


@dataclass(frozen=True)
class Slot:
    """What one subscriber m-line (``mid``) carries: a publisher id or ``None`` (idle)."""

    mid: str
    kind: str
    publisher: str | None


@dataclass(frozen=True)
class RoomEvent:
    """A change the server turns into socket events.

    ``room.publishers``: who publishes now (``publishers``); ``room.slots``:
    ``participant``'s slot map changed (``slots``); ``room.speaker``: the active
    speaker is ``participant`` (or ``None``); ``room.left``: ``participant``'s
    connection ended (failed, closed or evicted).
    """

    room_id: str
    kind: RoomEventKind
    participant: str | None = None
    publishers: tuple[str, ...] = ()
    slots: tuple[Slot, ...] = ()


RoomListener = Callable[[RoomEvent], None]


@dataclass(frozen=True)
class RoomAnswer:
    sdp: str
    slots: tuple[Slot, ...]


@dataclass
class _SlotState:
    transceiver: RTCRtpTransceiver
    track: SlotTrack
    publisher: str | None = None


@dataclass
class _Member:
    participant: str
    pc: RTCPeerConnection
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    mids: set[str] = field(default_factory=set)
    sources: dict[str, ForwardSource] = field(default_factory=dict)
    slots: list[_SlotState] = field(default_factory=list)
    ssrc: dict[str, int] = field(default_factory=dict)
    ufrag: str | None = None  # the ICE credentials of the browser's connection
    pins: tuple[str, ...] = ()  # whose video this participant keeps, whoever speaks
    camera: bool = True  # False: their camera is off, nobody is sent their video
    last_n: int | None = None  # fewer videos asked for (a small screen, a hidden page)

    def slot_map(self) -> tuple[Slot, ...]:
        return tuple(
            Slot(s.transceiver.mid or "", s.track.kind, s.publisher) for s in self.slots
        )


class MediaRoom:
    """The media of one breakout room. Create it through :meth:`RoomRegistry.room`."""

    def __init__(
        self, room_id: str, ice_servers: Callable[[], IceServers],
        listener: RoomListener | None = None, slot_track: Callable[[str], SlotTrack] = SlotTrack,
    ) -> None:
        """``slot_track`` makes each receive slot's track (a benchmark's baseline swaps it)."""
        self.room_id = room_id
        self._slot_track = slot_track
        self._ice_servers = ice_servers
        self._listener = listener
        self._members: dict[str, _Member] = {}
        self._speaker: str | None = None
        self._recent: list[str] = []  # who spoke, the latest first (last-N's order)
        self._audible: set[str] = set()  # whose audio goes out now (MAX_AUDIBLE at most)
        self.last_n = LAST_N
        self.audio_only = False
        self._speaker_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- state -----------------------------------------------------------------

    @property
    def participants(self) -> list[str]:
        """Everyone with a peer connection in the room."""
        return list(self._members)

    @property
    def publishers(self) -> tuple[str, ...]:
        """Participants who publish at least one track, in joining order."""
        return tuple(p for p, m in self._members.items() if m.sources)

    @property
    def speaker(self) -> str | None:
        """The active speaker, if anyone speaks."""
        return self._speaker

    def slots_of(self, participant: str) -> tuple[Slot, ...]:
        """The slot map of one participant (empty if not in the room)."""
        member = self._members.get(participant)
        return () if member is None else member.slot_map()

    def sources(self) -> list[ForwardSource]:
        """Every published track (for statistics and tests)."""
        return [s for m in self._members.values() for s in m.sources.values()]

    @property
    def peer_connections(self) -> list[RTCPeerConnection]:
        """The room's peer connections (for statistics and tests)."""
        return [m.pc for m in self._members.values()]

    def _emit(self, event: RoomEvent) -> None:
        if self._listener is not None:
            self._listener(event)

    # -- negotiation -------------------------------------------------------------

    async def offer(self, participant: str, offer_sdp: str) -> RoomAnswer:
        """Apply a participant's (re)offer; returns the answer and their slot map.

        Raises ``sdp.invalid`` for a bad offer or one without VP8/Opus,
        ``room.closed`` once the room is closed.
        """
        self._check_open()
        parsed = _validate(offer_sdp)
        member = self._members.get(participant)
        ufrag = next((m.ufrag for m in parsed if m.ufrag), None)
        if member is not None and member.ufrag is not None and ufrag != member.ufrag:
            # A new connection from the same person: their browser built one after a network
            # change or a failure (aiortc cannot restart ICE on the old one). The old one goes,
            # with its slots and publications; the others' slots take the new one by themselves.
            logger.info("room %s: %s reconnects with a new connection", self.room_id, participant)
            await self.leave(participant)
            member = None
        member = member or self._new_member(participant)
        member.ufrag = ufrag
        async with member.lock:
            published = await self._apply(member, offer_sdp, parsed)
            answer = await self._answer(member)
        if published:
            self._publishers_changed()
        return RoomAnswer(answer, member.slot_map())

    def _new_member(self, participant: str) -> _Member:
        pc = RTCPeerConnection(rtc_configuration(self._ice_servers(), max_bundle=True))
        member = _Member(participant, pc)
        self._members[participant] = member

        @pc.on("connectionstatechange")
        def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self._spawn(self._gone(member))

        return member

    async def _apply(self, member: _Member, offer_sdp: str, parsed: list[OfferedMedia]) -> bool:
        directions = {m.mid: m.direction for m in parsed}
        try:
            await member.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except Exception as exc:  # aiortc raises ValueError/OperationError on bad offers
            await self._drop_if_new(member)
            raise StreamingError("sdp.invalid", f"cannot apply the offer: {exc}") from exc
        published = False
        for transceiver in member.pc.getTransceivers():
            mid = transceiver.mid
            if mid is None or mid in member.mids or mid not in directions:
                continue
            member.mids.add(mid)
            restrict_negotiated_codecs(transceiver, ROOM_CODECS[transceiver.kind])
            if directions[mid] in ("sendonly", "sendrecv"):
                published |= self._add_source(member, transceiver)
            elif directions[mid] == "recvonly":
                self._add_slot(member, transceiver)
        self._fill_slots(member)
        return published

    async def _drop_if_new(self, member: _Member) -> None:
        if not member.mids:
            self._members.pop(member.participant, None)
            await member.pc.close()

    async def _answer(self, member: _Member) -> str:
        try:
            await member.pc.setLocalDescription(await member.pc.createAnswer())
        except Exception as exc:
            raise StreamingError("sdp.invalid", f"cannot answer the offer: {exc}") from exc
        return str(member.pc.localDescription.sdp)

    # -- publishing ---------------------------------------------------------------

    def _add_source(self, member: _Member, transceiver: RTCRtpTransceiver) -> bool:
        kind = transceiver.kind
        if kind in member.sources:  # one camera and one microphone per participant
            return False
        transceiver.direction = "recvonly"
        receiver = transceiver.receiver
        source = ForwardSource(
            member.participant, kind, lambda: self._send_pli(member, kind, receiver)
        )

        def on_rtp(ssrc: int, level: int | None) -> None:
            member.ssrc[kind] = ssrc
            if level is not None:
                source.on_audio_level(level)

        if kind == "audio":
            source.gate = self._audible_now
        intercept_encoded(receiver, source.on_frame, on_rtp)
        member.sources[kind] = source
        return True

    def _audible_now(self, source: ForwardSource) -> bool:
        """Whether a publisher's audio frame goes out: they spoke within the hangover, and are
        among the MAX_AUDIBLE loudest (a new voice takes a free place at once)."""
        if time.monotonic() - source.loud_at >= AUDIBLE_HANGOVER:
            return False
        if source.publisher in self._audible:
            return True
        if len(self._audible) < MAX_AUDIBLE:
            self._audible.add(source.publisher)
            return True
        return False

    def _send_pli(self, member: _Member, kind: str, receiver: RTCRtpReceiver) -> None:
        ssrc = member.ssrc.get(kind)
        if ssrc is not None:
            self._spawn(request_picture(receiver, ssrc))

    def _publishers_changed(self) -> None:
        for member in self._members.values():
            self._fill_slots(member, notify=True)
        self._emit(RoomEvent(self.room_id, "room.publishers", publishers=self.publishers))
        self._ensure_speaker_task()

    # -- subscribing -----------------------------------------------------------------

    def _add_slot(self, member: _Member, transceiver: RTCRtpTransceiver) -> None:
        track = self._slot_track(transceiver.kind)
        transceiver.direction = "sendonly"
        transceiver.sender.replaceTrack(track)
        track.bind(transceiver.sender)
        on_keyframe_request(transceiver.sender, track.request_keyframe)
        member.slots.append(_SlotState(transceiver, track))

    def wanted_video(self, member: _Member) -> list[str]:
        """Whose video a participant receives: their pins, then the last speakers, then (to
        fill N) the others in joining order; never their own, nobody's with the camera off,
        nobody's in an audio-only room."""
        if self.audio_only:
            return []

        def shows(publisher: str) -> bool:
            other = self._members.get(publisher)
            return (other is not None and other is not member and other.camera
                    and "video" in other.sources)

        pins = [p for p in member.pins if shows(p)]
        n = self.last_n if member.last_n is None else min(member.last_n, self.last_n)
        wanted: list[str] = []
        for publisher in (*pins, *self._recent, *self._members):
            if publisher not in wanted and shows(publisher):
                wanted.append(publisher)
        return wanted[:len(pins) + n]

    def wanted_audio(self, member: _Member) -> list[str]:
        """Whose audio a participant's audio slots carry: those speaking now first, then the
        last speakers, then the others in joining order, as many as they have slots (the gate
        lets through only voices speaking, so a silent one's slot costs nothing)."""
        slots = sum(1 for s in member.slots if s.track.kind == "audio")
        wanted: list[str] = []
        for publisher in (*sorted(self._audible), *self._recent, *self._members):
            other = self._members.get(publisher)
            if (publisher not in wanted and other is not None and other is not member
                    and "audio" in other.sources):
                wanted.append(publisher)
        return wanted[:slots]

    def _fill_slots(self, member: _Member, *, notify: bool = False) -> None:
        """Point this member's slots at what they should receive: the audio
        :meth:`wanted_audio` names, the video :meth:`wanted_video` names. A slot keeps its
        publisher while it stays wanted, so a change moves as few as it can."""
        changed = False
        video = self.wanted_video(member)
        order = [("video", p) for p in video] + [("audio", p) for p in self.wanted_audio(member)]
        wanted = set(order)
        for slot in member.slots:
            if slot.publisher is not None and (slot.track.kind, slot.publisher) not in wanted:
                slot.publisher = None
                slot.track.switch(None)
                changed = True
        carried = {(s.track.kind, s.publisher) for s in member.slots if s.publisher}
        for kind, publisher in order:
            if (kind, publisher) in carried:
                continue
            free = next((s for s in member.slots if s.publisher is None
                         and s.track.kind == kind), None)
            if free is None:
                continue
            free.publisher = publisher
            free.track.switch(self._members[publisher].sources[kind])
            changed = True
        if changed and notify:
            self._emit(RoomEvent(self.room_id, "room.slots", member.participant,
                                 slots=member.slot_map()))

    def _refill(self) -> None:
        """Who receives whom changed (a speaker, a camera, a pin): everyone's slots follow."""
        for member in self._members.values():
            self._fill_slots(member, notify=True)

    # -- what each participant sees ------------------------------------------------------

    def set_pins(self, participant: str, pins: list[str] | tuple[str, ...]) -> None:
        """Whose video ``participant`` keeps whoever speaks (at most MAX_PINS; unknown people
        and oneself are ignored)."""
        member = self._members.get(participant)
        if member is None:
            raise StreamingError("room.not_joined", "no media connection in this room")
        member.pins = tuple(dict.fromkeys(
            p for p in pins if isinstance(p, str) and p != participant))[:MAX_PINS]
        self._fill_slots(member, notify=True)

    def pins_of(self, participant: str) -> tuple[str, ...]:
        member = self._members.get(participant)
        return () if member is None else member.pins

    def set_view(self, participant: str, last_n: int | None) -> None:
        """How many speakers' videos ``participant`` shows (0 while their page is hidden,
        ``None``: the room's N)."""
        member = self._members.get(participant)
        if member is None:
            raise StreamingError("room.not_joined", "no media connection in this room")
        member.last_n = None if last_n is None else max(0, min(int(last_n), self.last_n))
        self._fill_slots(member, notify=True)

    def set_camera(self, participant: str, on: bool) -> None:
        """``participant`` turned their camera on or off: their video goes to nobody while it
        is off (their browser sends black frames or nothing; either way not forwarded)."""
        member = self._members.get(participant)
        if member is not None and member.camera != on:
            member.camera = on
            self._refill()

    def set_audio_only(self, on: bool) -> None:
        """The facilitator makes the room audio-only (no video forwarded) or lifts it."""
        if self.audio_only != on:
            self.audio_only = on
            self._refill()

    def _free_slots_of(self, publisher: str) -> None:
        for member in self._members.values():
            freed = [s for s in member.slots if s.publisher == publisher]
            for slot in freed:
                slot.publisher = None
                slot.track.switch(None)
            self._fill_slots(member)
            if freed:
                self._emit(RoomEvent(self.room_id, "room.slots", member.participant,
                                     slots=member.slot_map()))

    # -- leaving -------------------------------------------------------------------------

    async def leave(self, participant: str) -> bool:
        """Close a participant's connection; returns False if they had none."""
        member = self._members.pop(participant, None)
        if member is None:
            return False
        await self._close_member(member)
        return True

    async def _gone(self, member: _Member) -> None:
        if self._members.get(member.participant) is member:
            await self.leave(member.participant)

    async def _close_member(self, member: _Member) -> None:
        for source in member.sources.values():
            source.close()
        for slot in member.slots:
            slot.track.stop()
        await member.pc.close()
        if member.sources:
            self._free_slots_of(member.participant)
            self._emit(RoomEvent(self.room_id, "room.publishers", publishers=self.publishers))
        if self._speaker == member.participant:
            self._set_speaker(None)
        self._emit(RoomEvent(self.room_id, "room.left", member.participant))

    # -- active speaker --------------------------------------------------------------------

    def _ensure_speaker_task(self) -> None:
        if self._speaker_task is None and not self._closed:
            self._speaker_task = asyncio.ensure_future(self._watch_speaker())

    async def _watch_speaker(self) -> None:
        while True:
            await asyncio.sleep(SPEAKER_INTERVAL)
            speaking = self._speaking()
            self._set_speaker(self._loudest_of(speaking))
            self._note_speakers(speaking)

    def _speaking(self) -> list[ForwardSource]:
        """The audio of those speaking now (fresh level above the threshold), loudest first."""
        now = time.monotonic()
        return sorted((s for s in self.sources() if s.kind == "audio"
                       and s.level < SPEAKING_LEVEL and now - s.level_at < LEVEL_MAX_AGE),
                      key=lambda s: s.level)

    def _note_speakers(self, speaking: list[ForwardSource]) -> None:
        """Everyone speaking now moves to the front of last-N's order (the loudest first);
        the audible set becomes the loudest MAX_AUDIBLE of those within the hangover."""
        now = time.monotonic()
        recent = [s.publisher for s in speaking]
        recent += [p for p in self._recent if p not in recent and p in self._members]
        audible = sorted((s for s in self.sources()
                          if s.kind == "audio" and now - s.loud_at < AUDIBLE_HANGOVER),
                         key=lambda s: (s.loud_at < now - LEVEL_MAX_AGE, s.level))
        was = self._audible
        self._audible = {s.publisher for s in audible[:MAX_AUDIBLE]}
        if recent != self._recent or not self._audible <= was:
            self._recent = recent
            self._refill()

    def loudest(self) -> str | None:
        """The publisher speaking loudest right now (fresh level above the threshold); during
        silence the previous speaker holds while they are in the room."""
        return self._loudest_of(self._speaking())

    def _loudest_of(self, speaking: list[ForwardSource]) -> str | None:
        if not speaking:
            return self._speaker if self._speaker in self._members else None
        return speaking[0].publisher

    def _set_speaker(self, speaker: str | None) -> None:
        if speaker != self._speaker:
            self._speaker = speaker
            self._emit(RoomEvent(self.room_id, "room.speaker", speaker))

    # -- lifecycle -------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("room %s task failed", self.room_id, exc_info=task.exception())

    def _check_open(self) -> None:
        if self._closed:
            raise StreamingError("room.closed", "the room's media is closed")

    async def close(self) -> None:
        """Close every peer connection of the room."""
        self._closed = True
        if self._speaker_task is not None:
            self._speaker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._speaker_task
        for participant in list(self._members):
            await self.leave(participant)
        tasks = list(self._tasks)
        await asyncio.gather(*tasks, return_exceptions=True)


def _validate(offer_sdp: str) -> list[OfferedMedia]:
    """Transport checks of :func:`validate_offer`, then VP8/Opus on every m-line."""
    purpose: Purpose = "publish" if _sends(offer_sdp) else "view"
    parsed = offered_media(validate_offer(offer_sdp, purpose, require_stage_codecs=False))
    for media in parsed:
        if media.kind not in ROOM_CODECS or media.port == 0:
            continue
        if ROOM_CODECS[media.kind].lower() not in media.codecs:
            raise StreamingError(
                "sdp.invalid", f"the {media.kind} m-line does not offer {ROOM_CODECS[media.kind]}"
            )
    return parsed


def _sends(offer_sdp: object) -> bool:
    """Whether any m-line sends (then the offer is checked as a publish offer)."""
    text = offer_sdp if isinstance(offer_sdp, str) else ""
    return any(f"a={d}" in text for d in ("sendonly", "sendrecv"))


class RoomRegistry:
    """Owns the media rooms of one media process; ``stop()`` closes them all.

    ``listener`` receives every room's :class:`RoomEvent` s on the event loop.
    """

    def __init__(
        self, ice_servers: IceServers | Callable[[], IceServers] = (),
        listener: RoomListener | None = None, last_n: int = LAST_N,
    ) -> None:
        """``ice_servers``: fixed, or asked for each new peer connection (TURN credentials
        expire); ``last_n``: how many speakers' videos each participant receives."""
        self.last_n = max(1, min(last_n, MAX_LAST_N))
        if callable(ice_servers):
            self._ice_servers = ice_servers
        else:
            fixed: IceServers = ice_servers
            self._ice_servers = lambda: fixed
        self._listener = listener
        self._rooms: dict[str, MediaRoom] = {}

    async def start(self) -> None:
        """Check the aiortc internals forwarding relies on."""
        check_aiortc_internals()

    async def stop(self) -> None:
        """Close every room."""
        rooms = list(self._rooms.values())
        self._rooms.clear()
        for room in rooms:
            await room.close()

    async def __aenter__(self) -> RoomRegistry:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def room(self, room_id: str) -> MediaRoom:
        """The room with this id, created on first use."""
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = MediaRoom(room_id, self._ice_servers, self._listener)
            room.last_n = self.last_n
        return room

    def get(self, room_id: str) -> MediaRoom | None:
        """The room if it exists."""
        return self._rooms.get(room_id)

    @property
    def rooms(self) -> list[MediaRoom]:
        return list(self._rooms.values())

    async def close_room(self, room_id: str) -> bool:
        """Close one room and forget it; False if it did not exist."""
        room = self._rooms.pop(room_id, None)
        if room is None:
            return False
        await room.close()
        return True
