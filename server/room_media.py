"""Breakout-room audio and video: one streaming room (streaming/room.py) per breakout room.

The membership rule (server/membership.py) is checked before every join and every offer, so a
participant cannot publish to or listen to a room they are not assigned to; rooms without media
(on-site groups) refuse with `room.no_media`. The breakout feature calls `evict` when someone is
moved and `close_room` when the round closes; both hang up the peer connections at once.

People are keyed like the room's participant list (`participant:<id>`, `user:<id>`). Mute and
camera-off are the browser's (track.enabled); the server only relays the flags so others see
them. Media state lives in this node's memory: rooms are served by one media process (see
docs/protocol/room_media.md for the multi-node limit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from streaming import StreamingError
from streaming.room import RoomEvent, RoomRegistry, Slot

from .auth import Principal
from .errors import DomainError, log_unexpected
from .membership import room_access

Emit = Callable[[str, Any, str], Awaitable[None]]
"""Send a socket event: (name, data, to) where ``to`` is a sid or a socket.io room name."""
RoomOf = Callable[[int], str]


def person_key(principal: Principal) -> str:
    """The key the room's participant list uses for this person."""
    return f"{principal.kind}:{principal.id}"


@dataclass
class PeerState:
    """What others see of one person's media (flags only; the media itself is forwarded)."""

    key: str
    name: str
    sid: str
    audio: bool = True
    video: bool = True

    def view(self, publishing: bool, speaking: bool) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "audio": self.audio, "video": self.video,
                "publishing": publishing, "speaking": speaking}


def slots_view(slots: tuple[Slot, ...]) -> list[dict[str, Any]]:
    return [asdict(slot) for slot in slots]


class RoomMedia:
    """The room-media service of one node; owner of its streaming rooms (``stop()`` closes them)."""

    def __init__(self, ice_servers: tuple[str, ...], emit: Emit, room_of: RoomOf) -> None:
        self.registry = RoomRegistry(ice_servers, listener=self._on_room_event)
        self._emit = emit
        self._room_of = room_of
        self._peers: dict[int, dict[str, PeerState]] = {}
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.registry.start()

    async def stop(self) -> None:
        await self.registry.stop()
        self._peers.clear()

    # -- the membership rule ---------------------------------------------------------------

    @staticmethod
    async def check(db: AsyncSession, principal: Principal, event_id: int, room_id: int) -> None:
        """`room.not_member` / `room.not_found` from the one rule; `room.no_media` on site."""
        room = await room_access(db, principal, event_id, room_id, write=True)
        if not room.media:
            raise DomainError("room.no_media", "Det här rummet har inget ljud eller bild.")

    # -- joining and negotiating ----------------------------------------------------------------

    def join(self, principal: Principal, room_id: int, sid: str) -> dict[str, Any]:
        """Register a checked person in the room's media; returns the room's media snapshot."""
        key = person_key(principal)
        peers = self._peers.setdefault(room_id, {})
        peer = peers.get(key)
        if peer is None:
            peers[key] = PeerState(key, principal.name, sid)
        else:  # a reconnect or a second tab takes over; the flags stay
            peer.sid = sid
        return {"room_id": room_id, "me": key, "participants": self.participants(room_id)}

    async def offer(self, principal: Principal, room_id: int, sdp: str) -> dict[str, Any]:
        """Answer a checked person's offer; `media.not_joined` before `media.join`."""
        key = person_key(principal)
        if key not in self._peers.get(room_id, {}):
            raise DomainError("media.not_joined", "Anslut till rummets ljud och bild först.")
        try:
            answer = await self.registry.room(str(room_id)).offer(key, sdp)
        except StreamingError as exc:
            raise DomainError(exc.code, exc.message) from exc
        return {"room_id": room_id, "sdp": answer.sdp, "slots": slots_view(answer.slots)}

    async def set_state(self, principal: Principal, room_id: int, audio: bool, video: bool) -> None:
        peer = self._peers.get(room_id, {}).get(person_key(principal))
        if peer is None:
            raise DomainError("media.not_joined", "Anslut till rummets ljud och bild först.")
        peer.audio, peer.video = audio, video
        await self.announce(room_id)

    def participants(self, room_id: int) -> list[dict[str, Any]]:
        room = self.registry.get(str(room_id))
        publishing = set(room.publishers) if room else set()
        speaker = room.speaker if room else None
        return [p.view(p.key in publishing, p.key == speaker)
                for p in self._peers.get(room_id, {}).values()]

    async def announce(self, room_id: int) -> None:
        await self._emit("media.participants",
                         {"room_id": room_id, "participants": self.participants(room_id)},
                         self._room_of(room_id))

    # -- leaving ------------------------------------------------------------------------------

    async def leave(self, room_id: int, key: str) -> bool:
        """Hang up one person (left, disconnected); False if they were not in the room's media."""
        peer = self._peers.get(room_id, {}).pop(key, None)
        room = self.registry.get(str(room_id))
        if room is not None:
            await room.leave(key)
        if peer is not None:
            await self.announce(room_id)
        return peer is not None

    async def evict(self, room_id: int, key: str) -> None:
        """The person no longer belongs in the room (moved, unassigned): hang up and tell them."""
        peer = self._peers.get(room_id, {}).get(key)
        if await self.leave(room_id, key) and peer is not None:
            await self._emit("media.closed", {"room_id": room_id, "reason": "evicted"}, peer.sid)

    async def close_room(self, room_id: int) -> None:
        """The round closed: hang up everyone in the room."""
        peers = self._peers.pop(room_id, {})
        await self.registry.close_room(str(room_id))
        for peer in peers.values():
            await self._emit("media.closed", {"room_id": room_id, "reason": "closed"}, peer.sid)

    async def disconnected(self, sid: str) -> None:
        """A socket went away: hang up whatever media it had."""
        for room_id, peers in list(self._peers.items()):
            for key in [k for k, p in peers.items() if p.sid == sid]:
                await self.leave(room_id, key)

    # -- events from the streaming rooms ------------------------------------------------------

    def _on_room_event(self, event: RoomEvent) -> None:
        task = asyncio.ensure_future(self._relay(event))
        self._pending.add(task)
        task.add_done_callback(self._relayed)

    def _relayed(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log_unexpected("room media event", task.exception())  # type: ignore[arg-type]

    async def _relay(self, event: RoomEvent) -> None:
        room_id = int(event.room_id)
        if event.kind in ("room.publishers", "room.left"):
            await self.announce(room_id)
        elif event.kind == "room.speaker":
            await self._emit("media.speaker", {"room_id": room_id, "key": event.participant},
                             self._room_of(room_id))
        elif event.kind == "room.slots" and event.participant is not None:
            peer = self._peers.get(room_id, {}).get(event.participant)
            if peer is not None:
                await self._emit("media.slots",
                                 {"room_id": room_id, "slots": slots_view(event.slots)}, peer.sid)
