"""Breakout-room audio and video: one streaming room (streaming/room.py) per breakout room.

The membership rule (server/membership.py) is checked before every join and every offer, so a
participant cannot publish to or listen to a room they are not assigned to; rooms without media
(on-site groups) refuse with `room.no_media`. The breakout feature calls `evict` when someone is
moved and `close_room` when the round closes; both hang up the peer connections at once.

People are keyed like the room's participant list (`participant:<id>`, `user:<id>`). Mute and
camera-off are the browser's (track.enabled); the server only relays the flags so others see
them. Media state lives in the memory of the node that serves the person's socket (see
docs/protocol/room_media.md for the multi-node limit); `evict` and `close_room` reach every
node over `MediaBus` (Redis pub/sub when REDIS_URL is set), because the person's media may be
on another node than the moderator who moved them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from streaming import StreamingError
from streaming.room import RoomEvent, RoomRegistry, Slot

from . import keys
from .auth import Principal
from .errors import DomainError, log_unexpected
from .membership import room_access
from .models_breakout import BreakoutRound

Emit = Callable[[str, Any, str], Awaitable[None]]
"""Send a socket event: (name, data, to) where ``to`` is a sid or a socket.io room name."""
RoomOf = Callable[[int], str]
LeaveRoom = Callable[[str, str], Awaitable[None]]
"""Take a socket (sid) out of a socket.io room (name)."""

CHANNEL = keys.ROOM_MEDIA_CHANNEL
"""Redis channel on which nodes tell each other to hang up a person or a room (MediaBus)."""


# --------------------------------------------------------------------------- between nodes

Deliver = Callable[[dict[str, Any]], Awaitable[None]]


class MediaBus(Protocol):
    """Control messages between nodes: ``{"n": node, "k": "evict" or "close", "r": room,
    "p": person key}``."""

    async def start(self, deliver: Deliver) -> None: ...
    async def publish(self, message: dict[str, Any]) -> None: ...
    async def stop(self) -> None: ...


class LocalMediaBus:
    """One process: nobody else to tell."""

    async def start(self, deliver: Deliver) -> None:
        return None

    async def publish(self, message: dict[str, Any]) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisMediaBus:
    """Redis pub/sub on ``CHANNEL``; reconnects with capped backoff (1 s to 60 s)."""

    def __init__(self, url: str, node_id: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._node = node_id
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self, deliver: Deliver) -> None:
        self._task = asyncio.create_task(self._listen(deliver))
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def publish(self, message: dict[str, Any]) -> None:
        await self._redis.publish(CHANNEL, json.dumps({**message, "n": self._node}))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._redis.aclose()

    async def _listen(self, deliver: Deliver) -> None:
        backoff = 1.0
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._subscribed.set()
                    backoff = 1.0
                    async for raw in pubsub.listen():
                        if raw.get("type") != "message":
                            continue
                        message = json.loads(raw["data"])
                        if message.get("n") != self._node:
                            await deliver(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone: retry; rooms keep working on each node
                log_unexpected("room media bus", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)


def make_media_bus(redis_url: str | None, node_id: str) -> MediaBus:
    return RedisMediaBus(redis_url, node_id) if redis_url else LocalMediaBus()


def person_key(principal: Principal) -> str:
    """The key the room's participant list uses for this person."""
    return f"{principal.kind}:{principal.id}"


@dataclass
class PeerState:
    """What others see of one person's media (flags only; the media itself is forwarded)."""

    key: str
    name: str
    sid: str  # the socket whose peer connection this is (the latest media.join)
    audio: bool = True
    video: bool = True
    sids: set[str] = field(default_factory=set)  # every socket of theirs in keys.room_media

    def view(self, publishing: bool, speaking: bool) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "audio": self.audio, "video": self.video,
                "publishing": publishing, "speaking": speaking}


def slots_view(slots: tuple[Slot, ...]) -> list[dict[str, Any]]:
    return [asdict(slot) for slot in slots]


class RoomMedia:
    """The room-media service of one node; owner of its streaming rooms (``stop()`` closes them)."""

    def __init__(
        self, ice_servers: tuple[str, ...], emit: Emit, room_of: RoomOf,
        leave_room: LeaveRoom | None = None, bus: MediaBus | None = None,
    ) -> None:
        self.registry = RoomRegistry(ice_servers, listener=self._on_room_event)
        self._emit = emit
        self._room_of = room_of
        self._leave_room = leave_room
        self._bus: MediaBus = bus or LocalMediaBus()
        self._peers: dict[int, dict[str, PeerState]] = {}
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.registry.start()
        await self._bus.start(self._from_other_node)

    async def stop(self) -> None:
        await self._bus.stop()
        await self.registry.stop()
        self._peers.clear()

    # -- the membership rule ---------------------------------------------------------------

    @staticmethod
    async def check(db: AsyncSession, principal: Principal, event_id: int, room_id: int) -> None:
        """`room.not_member` / `room.not_found` from the one rule; `room.no_media` on site;
        `room.closed` once the round is closed (its notes and chat stay readable, media ends)."""
        room = await room_access(db, principal, event_id, room_id, write=True)
        if not room.media:
            raise DomainError("room.no_media", "Det här rummet har inget ljud eller bild.")
        rnd = await db.get(BreakoutRound, room.round_id)
        if rnd is None or rnd.status != "open":
            raise DomainError("room.closed", "Grupprummen är stängda; ljud och bild är avslutade.")

    # -- joining and negotiating ----------------------------------------------------------------

    def join(self, principal: Principal, room_id: int, sid: str) -> dict[str, Any]:
        """Register a checked person in the room's media; returns the room's media snapshot."""
        key = person_key(principal)
        peers = self._peers.setdefault(room_id, {})
        peer = peers.get(key)
        if peer is None:
            peer = peers[key] = PeerState(key, principal.name, sid)
        else:  # a reconnect or a second tab takes over; the flags stay
            peer.sid = sid
        peer.sids.add(sid)
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
        """The person no longer belongs in the room (moved, unassigned): on every node, hang up,
        take their sockets out of the room's media events and tell them."""
        await self._evict_here(room_id, key)
        await self._bus.publish({"k": "evict", "r": room_id, "p": key})

    async def close_room(self, room_id: int) -> None:
        """The round closed: hang up everyone in the room, on every node."""
        await self._close_here(room_id)
        await self._bus.publish({"k": "close", "r": room_id, "p": None})

    async def _evict_here(self, room_id: int, key: str) -> None:
        peer = self._peers.get(room_id, {}).get(key)
        if peer is None:
            return
        await self._unroom(room_id, peer)
        await self.leave(room_id, key)
        await self._emit("media.closed", {"room_id": room_id, "reason": "evicted"}, peer.sid)

    async def _close_here(self, room_id: int) -> None:
        peers = self._peers.pop(room_id, {})
        await self.registry.close_room(str(room_id))
        for peer in peers.values():
            await self._unroom(room_id, peer)
            await self._emit("media.closed", {"room_id": room_id, "reason": "closed"}, peer.sid)

    async def _unroom(self, room_id: int, peer: PeerState) -> None:
        if self._leave_room is not None:
            for sid in peer.sids | {peer.sid}:
                await self._leave_room(sid, self._room_of(room_id))

    async def _from_other_node(self, message: dict[str, Any]) -> None:
        try:
            room_id = int(message["r"])
            if message.get("k") == "evict":
                await self._evict_here(room_id, str(message["p"]))
            elif message.get("k") == "close":
                await self._close_here(room_id)
        except Exception as exc:  # one bad message must not stop the bus
            log_unexpected("room media from another node", exc)

    async def disconnected(self, sid: str) -> None:
        """A socket went away: hang up whatever media it had."""
        for room_id, peers in list(self._peers.items()):
            for peer in peers.values():
                peer.sids.discard(sid)
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
