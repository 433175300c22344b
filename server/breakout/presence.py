"""Who is inside each breakout room right now, across web nodes.

Two adapters with one interface, like server/store.py: in-process (embedded default) and Redis
(several web nodes). An entry is one socket (sid) with the person behind it and the node that
serves it; a node that dies stops its heartbeat (server/store.py) and its entries are ignored
and swept, so a crash leaves no ghosts in a room. Losing Redis loses no data: people re-enter.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Protocol, cast

from server.platform import keys
from server.platform.node import Key
from server.platform.pubsub import redis_client


class RoomPresence(Protocol):
    async def enter(self, room_id: int, sid: str, person: dict[str, Any]) -> None: ...
    async def leave(self, room_id: int, sid: str) -> None: ...
    async def entries(self, room_id: int) -> dict[str, dict[str, Any]]: ...
    async def clear(self, room_id: int) -> None: ...
    async def stop(self) -> None: ...


def people_of(entries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per person however many tabs they have; a raised hand on any tab counts."""
    people: dict[str, dict[str, Any]] = {}
    for entry in entries.values():
        person = people.setdefault(entry["key"], {k: v for k, v in entry.items() if k != "node"})
        person["hand"] = bool(person.get("hand")) or bool(entry.get("hand"))
    return sorted(people.values(), key=lambda p: (p.get("role") == "participant", p["name"]))


class MemoryRoomPresence:
    def __init__(self) -> None:
        self._rooms: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)

    async def enter(self, room_id: int, sid: str, person: dict[str, Any]) -> None:
        self._rooms[room_id][sid] = dict(person)

    async def leave(self, room_id: int, sid: str) -> None:
        self._rooms[room_id].pop(sid, None)

    async def entries(self, room_id: int) -> dict[str, dict[str, Any]]:
        return {sid: dict(p) for sid, p in self._rooms[room_id].items()}

    async def clear(self, room_id: int) -> None:
        self._rooms.pop(room_id, None)

    async def stop(self) -> None:
        return None


class RedisRoomPresence:
    def __init__(self, url: str, node_id: str) -> None:
        self._redis = redis_client(url, decode=True)
        self._node = node_id

    async def enter(self, room_id: int, sid: str, person: dict[str, Any]) -> None:
        value = json.dumps({**person, "node": self._node})
        await self._redis.hset(keys.room_presence_key(room_id), sid, value)

    async def leave(self, room_id: int, sid: str) -> None:
        await self._redis.hdel(keys.room_presence_key(room_id), sid)

    async def entries(self, room_id: int) -> dict[str, dict[str, Any]]:
        raw = cast(dict[str, str], await self._redis.hgetall(keys.room_presence_key(room_id)))
        entries = {sid: json.loads(v) for sid, v in raw.items()}
        nodes = {e["node"] for e in entries.values()}
        alive = {n for n in nodes if await self._redis.exists(keys.node_alive_key(n))}
        dead = [sid for sid, e in entries.items() if e["node"] not in alive]
        if dead:
            await self._redis.hdel(keys.room_presence_key(room_id), *dead)
        return {sid: e for sid, e in entries.items() if e["node"] in alive}

    async def clear(self, room_id: int) -> None:
        await self._redis.delete(keys.room_presence_key(room_id))

    async def stop(self) -> None:
        await self._redis.aclose()


def make_room_presence(redis_url: str | None, node_id: str) -> RoomPresence:
    return RedisRoomPresence(redis_url, node_id) if redis_url else MemoryRoomPresence()


PRESENCE: Key[RoomPresence] = Key("breakout.presence")
