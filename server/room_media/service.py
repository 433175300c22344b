"""Breakout-room audio and video: one streaming room (streaming/room.py) per breakout room.

The membership rule (server/membership.py) is checked before every join and every offer, so a
participant cannot publish to or listen to a room they are not assigned to; rooms without media
(on-site groups) refuse with `room.no_media`. The breakout feature calls `evict` when someone is
moved and `close_room` when the round closes; both hang up the peer connections at once.

People are keyed like the room's participant list (`participant:<id>`, `user:<id>`). Mute and
camera-off are the browser's (track.enabled); the server only relays the flags so others see
them.

Several nodes: all of one room's peer connections must meet in one media engine, so each room
has one *host* node, named in Redis (`RoomMediaHosts`): the least loaded live node that serves
media (`--no-media` web nodes never host), claimed atomically by whoever first needs it and
kept while the host is alive. A person's socket may be on any node; `RoomMediaRouter` checks
the membership rule there and passes join, offer, flags and leave to the host over
`NodeRequests` (server/node_bus.py). The host emits `room_media.*` through socket.io's Redis
manager, which reaches sockets on every node. `evict`, `close_room` and a disconnected socket
reach every node over `MediaBus` (Redis pub/sub), so the host hangs up whoever it holds.
Without Redis everything stays in this process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy.ext.asyncio import AsyncSession

from server.breakout.membership import room_access
from server.breakout.models import BreakoutRoom, BreakoutRound
from server.platform import keys
from server.platform.auth import Principal
from server.platform.errors import DomainError, log_unexpected
from server.platform.node import Key
from server.platform.node_bus import NodeRequests
from server.platform.pubsub import Subscription, redis_client
from streaming import StreamingError
from streaming.config import IceServers
from streaming.room import LAST_N, MAX_PINS, RoomEvent, RoomRegistry, Slot

logger = logging.getLogger(__name__)

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
    """Control messages between nodes: ``{"n": node, "k": "evict", "close" or "gone",
    "r": room, "p": person key, "s": a disconnected socket}``."""

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
    """Redis pub/sub on ``CHANNEL`` (server/platform/pubsub.py: guarded messages, capped-backoff
    reconnect)."""

    def __init__(self, url: str, node_id: str) -> None:
        self._url = url
        self._redis = redis_client(url)
        self._node = node_id
        self._subscription: Subscription | None = None

    async def start(self, deliver: Deliver) -> None:
        async def handle(_channel: str, raw: bytes) -> None:
            message = json.loads(raw)
            if message.get("n") != self._node:
                await deliver(message)

        self._subscription = Subscription(self._url, [CHANNEL], handle, name="room media bus")
        await self._subscription.start()

    async def publish(self, message: dict[str, Any]) -> None:
        await self._redis.publish(CHANNEL, json.dumps({**message, "n": self._node}))

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.stop()
        await self._redis.aclose()


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
    sid: str  # the socket whose peer connection this is (the latest room_media.join)
    audio: bool = True
    video: bool = True
    sids: set[str] = field(default_factory=set)  # every socket of theirs in keys.room_media

    def view(self, publishing: bool, speaking: bool) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "audio": self.audio, "video": self.video,
                "publishing": publishing, "speaking": speaking}


def slots_view(slots: tuple[Slot, ...]) -> list[dict[str, Any]]:
    return [asdict(slot) for slot in slots]


def not_joined() -> DomainError:
    """The person has not joined the room's media (or their connection is gone)."""
    return DomainError("room_media.not_joined", "Anslut till rummets ljud och bild först.")


class RoomMedia:
    """The room-media service of one node; owner of its streaming rooms (``stop()`` closes them)."""

    def __init__(
        self, ice_servers: IceServers | Callable[[], IceServers], emit: Emit, room_of: RoomOf,
        leave_room: LeaveRoom | None = None, bus: MediaBus | None = None, last_n: int = LAST_N,
    ) -> None:
        self.registry = RoomRegistry(ice_servers, listener=self._on_room_event, last_n=last_n)
        self._emit = emit
        self._room_of = room_of
        self._leave_room = leave_room
        self._bus: MediaBus = bus or LocalMediaBus()
        self._peers: dict[int, dict[str, PeerState]] = {}
        self._audio_only: dict[int, bool] = {}
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
    async def check(
        db: AsyncSession, principal: Principal, event_id: int, room_id: int
    ) -> BreakoutRoom:
        """`room.not_member` / `room.not_found` from the one rule; `room.no_media` on site;
        `room.closed` once the round is closed (its notes and chat stay readable, media ends).
        Returns the room."""
        room = await room_access(db, principal, event_id, room_id, write=True)
        if not room.media:
            raise DomainError("room.no_media", "Det här rummet har inget ljud eller bild.")
        rnd = await db.get(BreakoutRound, room.round_id)
        if rnd is None or rnd.status != "open":
            raise DomainError("room.closed", "Grupprummen är stängda; ljud och bild är avslutade.")
        return room

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
        """Answer a checked person's offer; `room_media.not_joined` before `room_media.join`."""
        key = person_key(principal)
        if key not in self._peers.get(room_id, {}):
            raise not_joined()
        try:
            media_room = self.registry.room(str(room_id))
            media_room.set_audio_only(self._audio_only.get(room_id, False))
            answer = await media_room.offer(key, sdp)
        except StreamingError as exc:
            raise DomainError(exc.code, exc.message, reason=exc.message) from exc
        return {"room_id": room_id, "sdp": answer.sdp, "slots": slots_view(answer.slots)}

    async def set_state(self, principal: Principal, room_id: int, audio: bool, video: bool) -> None:
        peer = self._peers.get(room_id, {}).get(person_key(principal))
        if peer is None:
            raise not_joined()
        peer.audio, peer.video = audio, video
        room = self.registry.get(str(room_id))
        if room is not None:  # camera off: nobody is sent their (black) video
            room.set_camera(peer.key, video)
        await self.announce(room_id)

    async def set_view(self, principal: Principal, room_id: int, pins: list[str],
                       last_n: int | None) -> dict[str, Any]:
        """What a person's page shows: whom they pin and how many speakers (0: hidden)."""
        room = self.registry.get(str(room_id))
        key = person_key(principal)
        if room is None or key not in self._peers.get(room_id, {}):
            raise not_joined()
        try:
            room.set_pins(key, pins)
            room.set_view(key, last_n)
        except StreamingError as exc:
            raise not_joined() from exc
        return {"room_id": room_id, "pins": list(room.pins_of(key)), "last_n": room.last_n}

    async def set_audio_only(self, room_id: int, on: bool) -> dict[str, Any]:
        """The facilitator's switch (checked by the caller): sound only, no video forwarded."""
        self._audio_only[room_id] = on
        room = self.registry.get(str(room_id))
        if room is not None:
            room.set_audio_only(on)
        await self.announce(room_id)
        return {"room_id": room_id, "audio_only": on}

    def participants(self, room_id: int) -> list[dict[str, Any]]:
        room = self.registry.get(str(room_id))
        publishing = set(room.publishers) if room else set()
        speaker = room.speaker if room else None
        return [p.view(p.key in publishing, p.key == speaker)
                for p in self._peers.get(room_id, {}).values()]

    async def announce(self, room_id: int) -> None:
        await self._emit("room_media.participants",
                         {"room_id": room_id, "participants": self.participants(room_id),
                          "audio_only": self._audio_only.get(room_id, False)},
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
        await self._emit("room_media.closed", {"room_id": room_id, "reason": "evicted"}, peer.sid)

    async def _close_here(self, room_id: int) -> None:
        peers = self._peers.pop(room_id, {})
        await self.registry.close_room(str(room_id))
        for peer in peers.values():
            await self._unroom(room_id, peer)
            await self._emit(
                "room_media.closed", {"room_id": room_id, "reason": "closed"}, peer.sid)

    async def _unroom(self, room_id: int, peer: PeerState) -> None:
        if self._leave_room is not None:
            for sid in peer.sids | {peer.sid}:
                await self._leave_room(sid, self._room_of(room_id))

    async def _from_other_node(self, message: dict[str, Any]) -> None:
        try:
            if message.get("k") == "evict":
                await self._evict_here(int(message["r"]), str(message["p"]))
            elif message.get("k") == "close":
                await self._close_here(int(message["r"]))
            elif message.get("k") == "gone":
                await self._disconnected_here(str(message["s"]))
        except Exception as exc:  # one bad message must not stop the bus
            log_unexpected("room media from another node", exc)

    def hosted(self) -> dict[int, int]:
        """People per room whose media this node holds."""
        return {room_id: len(peers) for room_id, peers in self._peers.items() if peers}

    async def disconnected(self, sid: str) -> None:
        """A socket went away: hang up whatever media it had, here and on the room's host."""
        await self._disconnected_here(sid)
        await self._bus.publish({"k": "gone", "r": None, "s": sid})

    async def _disconnected_here(self, sid: str) -> None:
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
            await self._emit("room_media.speaker", {"room_id": room_id, "key": event.participant},
                             self._room_of(room_id))
        elif event.kind == "room.slots" and event.participant is not None:
            peer = self._peers.get(room_id, {}).get(event.participant)
            if peer is not None:
                await self._emit("room_media.slots",
                                 {"room_id": room_id, "slots": slots_view(event.slots)}, peer.sid)


# --------------------------------------------------------------------------- which node hosts

HOST_TTL = 30
"""Seconds a room's host entry lives without a refresh (the host refreshes every HOST_REFRESH)."""
HOST_REFRESH = 10
ALIVE_TTL = 3
"""Seconds a host's heartbeat (`keys.room_media_alive_key`) lives; it beats every ALIVE_BEAT.
A host dead longer than this has its rooms given to another node by whoever next needs them:
people are back within seconds, not after the node's 30 s presence heartbeat."""
ALIVE_BEAT = 1.0
ASK_TIMEOUT = ALIVE_TTL + 0.5
"""How long a node waits for a room's host to answer: longer than ALIVE_TTL, so a host that
was dead when asked is known dead once the wait is over (the router then asks again)."""

_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return current end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return ARGV[2]
"""
"""Take the host entry if it is empty or still names the dead node the caller saw (ARGV[1]);
otherwise answer whoever holds it. One winner however many nodes race."""

NO_HOST = ("room_media.no_host", "Ingen medienod är igång för grupprummens ljud och bild.")


class RoomMediaHosts:
    """The Redis registry of room hosts: `keys.room_media_host_key(room)` -> node id, and each
    media-serving node's load in the hash `keys.ROOM_MEDIA_LOAD`: the people it hosts, plus
    the stage's WebRTC viewers it sends to (`viewers`). Each process of a media node is a node
    here, so rooms spread over a node's processes as over nodes."""

    def __init__(self, url: str, node_id: str, serves: bool,
                 viewers: Callable[[], int] = lambda: 0) -> None:
        self._redis = redis_client(url, decode=True)
        self._node = node_id
        self._serves = serves
        self._viewers = viewers

    async def close(self) -> None:
        await self._redis.aclose()

    async def host(self, room_id: int) -> str:
        """The node hosting the room's media, chosen now if none is (or the one named is dead)."""
        key = keys.room_media_host_key(room_id)
        current = cast(str | None, await self._redis.get(key))
        if current and await self._alive(current):
            return str(current)
        chosen = await self._least_loaded()
        winner = await self._redis.eval(
            _CLAIM, 1, key, current or "", chosen, HOST_TTL)
        return str(winner)

    async def beat(self) -> None:
        """A serving node is alive (every ALIVE_BEAT seconds)."""
        if self._serves:
            await self._redis.set(keys.room_media_alive_key(self._node), "1", ex=ALIVE_TTL)

    async def report(self, hosted: dict[int, int]) -> None:
        """A serving node says it is here, with its load, and keeps the rooms it hosts."""
        if not self._serves:
            return
        load = sum(hosted.values()) + self._viewers()
        await self._redis.hset(keys.ROOM_MEDIA_LOAD, self._node, load)
        for room_id in hosted:
            key = keys.room_media_host_key(room_id)
            if await self._redis.get(key) == self._node:
                await self._redis.expire(key, HOST_TTL)

    async def withdraw(self) -> None:
        """This node stops: it hosts nothing from now on."""
        if self._serves:
            await self._redis.hdel(keys.ROOM_MEDIA_LOAD, self._node)
            await self._redis.delete(keys.room_media_alive_key(self._node))

    async def _alive(self, node: str) -> bool:
        return bool(await self._redis.exists(keys.room_media_alive_key(node)))

    async def _least_loaded(self) -> str:
        loads = cast(dict[str, str], await self._redis.hgetall(keys.ROOM_MEDIA_LOAD))
        ranked = sorted(((int(load), node) for node, load in loads.items()))
        for _, node in ranked:
            if node == self._node or await self._alive(node):
                return str(node)
            await self._redis.hdel(keys.ROOM_MEDIA_LOAD, node)  # gone without withdrawing
        if self._serves:
            return self._node
        raise DomainError(*NO_HOST)


class RoomMediaRouter:
    """What the socket handlers call: the membership rule is theirs, the host is found here.

    With `hosts` and `requests` (Redis), a room hosted elsewhere gets the person's join, offer,
    flags and leave over `requests`; without them (one node) the local `RoomMedia` does it all.
    """

    def __init__(
        self, local: RoomMedia, hosts: RoomMediaHosts | None = None,
        requests: NodeRequests | None = None,
    ) -> None:
        self.local = local
        self._hosts = hosts
        self._requests = requests
        self._refresh: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.local.start()
        if self._hosts is not None and self._requests is not None:
            await self._requests.start(self._command)
            try:
                await self._hosts.beat()
                await self._hosts.report({})
            except Exception as exc:  # Redis not there yet: the refresh loop says so later
                log_unexpected("room media hosts", exc)
            self._refresh = asyncio.create_task(self._keep_hosting())

    async def stop(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)
        if self._hosts is not None and self._requests is not None:
            try:
                await self._hosts.withdraw()
            except Exception as exc:  # Redis gone at shutdown: the entry ages out
                log_unexpected("room media withdraw", exc)
            await self._requests.stop()
            await self._hosts.close()
        await self.local.stop()

    async def _keep_hosting(self) -> None:
        assert self._hosts is not None
        beats = 0
        while True:
            await asyncio.sleep(ALIVE_BEAT)
            beats += 1
            try:
                await self._hosts.beat()
                if beats % round(HOST_REFRESH / ALIVE_BEAT) == 0:
                    await self._hosts.report(self.local.hosted())
            except Exception as exc:  # Redis gone: try again next round
                log_unexpected("room media hosts", exc)

    async def _remote(self, room_id: int) -> str | None:
        """The host's node id, or None when it is this node."""
        if self._hosts is None or self._requests is None:
            return None
        host = await self._hosts.host(room_id)
        return None if host == self._requests.node_id else host

    async def join(self, principal: Principal, room_id: int, sid: str) -> dict[str, Any]:
        return await self._on_host(room_id, "join", principal, sid=sid)

    async def offer(self, principal: Principal, room_id: int, sdp: str) -> dict[str, Any]:
        return await self._on_host(room_id, "offer", principal, sdp=sdp)

    async def _on_host(
        self, room_id: int, kind: str, principal: Principal, **data: Any
    ) -> dict[str, Any]:
        """Join or offer on the room's host. A host that does not answer within ASK_TIMEOUT
        is dead by then if it ever will be (its heartbeat has lapsed): ask whoever hosts the
        room now, once, which takes the room over."""
        host = await self._remote(room_id)
        for attempt in (1, 2):
            if host is None:
                return await self._command(kind, {
                    "principal": asdict(principal), "room_id": room_id, **data})
            try:
                return await self._ask(host, kind, principal, room_id, **data)
            except DomainError as exc:
                if exc.code != "room_media.host_unreachable" or attempt == 2:
                    raise
                again = await self._remote(room_id)
                if again == host:
                    raise
                logger.warning("room %s: host %s did not answer; %s hosts it now",
                               room_id, host, again or "this node")
                host = again
        raise AssertionError("unreachable")

    async def set_state(self, principal: Principal, room_id: int, audio: bool, video: bool) -> None:
        host = await self._remote(room_id)
        if host is None:
            await self.local.set_state(principal, room_id, audio, video)
        else:
            await self._ask(host, "state", principal, room_id, audio=audio, video=video)

    async def set_view(self, principal: Principal, room_id: int, pins: list[str],
                       last_n: int | None) -> dict[str, Any]:
        return await self._on_host(room_id, "view", principal, pins=pins, last_n=last_n)

    async def set_audio_only(self, principal: Principal, room_id: int, on: bool) -> dict[str, Any]:
        """``principal`` leads the room (checked by the caller)."""
        return await self._on_host(room_id, "audio_only", principal, on=on)

    async def leave(self, principal: Principal, room_id: int) -> None:
        host = await self._remote(room_id)
        if host is None:
            await self.local.leave(room_id, person_key(principal))
        else:
            await self._ask(host, "leave", principal, room_id)

    async def evict(self, room_id: int, key: str) -> None:
        await self.local.evict(room_id, key)

    async def close_room(self, room_id: int) -> None:
        await self.local.close_room(room_id)

    async def disconnected(self, sid: str) -> None:
        await self.local.disconnected(sid)

    async def _ask(
        self, host: str, kind: str, principal: Principal, room_id: int, **data: Any
    ) -> dict[str, Any]:
        assert self._requests is not None
        return await self._requests.request(
            host, kind, timeout=ASK_TIMEOUT, principal=asdict(principal), room_id=room_id, **data)

    async def _command(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Another node passes on a person it has checked; this node hosts the room."""
        principal, room_id = Principal.from_dict(data["principal"]), int(data["room_id"])
        if kind == "join":
            snapshot = self.local.join(principal, room_id, str(data["sid"]))
            await self.local.announce(room_id)
            return snapshot
        if kind == "offer":
            return await self.local.offer(principal, room_id, str(data["sdp"]))
        if kind == "state":
            await self.local.set_state(
                principal, room_id, bool(data["audio"]), bool(data["video"]))
            return {}
        if kind == "leave":
            await self.local.leave(room_id, person_key(principal))
            return {}
        if kind == "view":
            last_n = data.get("last_n")
            return await self.local.set_view(
                principal, room_id, [str(p) for p in data.get("pins") or []][:MAX_PINS],
                None if last_n is None else int(last_n))
        if kind == "audio_only":
            return await self.local.set_audio_only(room_id, bool(data["on"]))
        raise DomainError("server.error", f"unknown room media request {kind!r}",
                          key="server.error.room_media_request", kind=kind)


ROUTER = Key("room_media.router", RoomMediaRouter)
