"""What crosses processes but is not data: presence and rate-limit counters
(server/platform/limits.py).

Two adapters with one interface: in-process (embedded default) and Redis (several web nodes).
Losing either loses no data: presence rebuilds as clients reconnect, counters just restart.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Protocol

from server.platform import keys
from server.platform.errors import DomainError, log_unexpected
from server.platform.limits import RateLimits
from server.platform.pubsub import Backoff, redis_client

if TYPE_CHECKING:
    from server.platform.auth import Principal

NODE_TTL = 30
HEARTBEAT = 10


async def require_rate(
    store: Store, action: str, who: Principal | str, limit: int, window: int,
    code: str, message: str, /, key: str | None = None, **details: object,
) -> None:
    """Count one `action` by `who` (a person, or a client address as text); past `limit` in
    the last `window` seconds, refuse with `retry_after` (seconds) among the details."""
    name = who if isinstance(who, str) else f"{who.kind}:{who.id}"
    if not await store.rates.hit(action, name, limit, window):
        wait = await store.rates.retry_after(action, name, limit, window)
        raise DomainError(code, message, key=key, retry_after=wait, **details)


class Store(Protocol):
    rates: RateLimits

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ping(self) -> bool: ...
    async def join(self, event_id: int, sid: str, person: dict[str, Any]) -> None: ...
    async def leave(self, event_id: int, sid: str) -> None: ...
    async def online(self, event_id: int) -> list[dict[str, Any]]: ...


def unique_people(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per person, however many tabs or devices they have open."""
    people: dict[str, dict[str, Any]] = {}
    for entry in entries:
        people.setdefault(entry["key"], entry)
    return sorted(people.values(), key=lambda p: p.get("name", ""))


class MemoryStore:
    """The embedded default: one process, state in dictionaries."""

    def __init__(self) -> None:
        self.rates = RateLimits(None)
        self._presence: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def join(self, event_id: int, sid: str, person: dict[str, Any]) -> None:
        self._presence[event_id][sid] = person

    async def leave(self, event_id: int, sid: str) -> None:
        self._presence[event_id].pop(sid, None)

    async def online(self, event_id: int) -> list[dict[str, Any]]:
        return unique_people(list(self._presence[event_id].values()))


class RedisStore:
    """Several web nodes: presence in a hash per event, each entry tagged with its node.

    A node that dies stops refreshing its heartbeat key; its entries are then ignored and
    swept, so a crash never leaves ghosts online.
    """

    def __init__(self, url: str, node_id: str) -> None:
        self._redis = redis_client(url, decode=True)
        self.rates = RateLimits(url)
        self._node = node_id
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._beat()
        self._task = asyncio.create_task(self._heartbeat())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._redis.delete(keys.node_alive_key(self._node))
        await self._redis.aclose()

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def _beat(self) -> None:
        await self._redis.set(keys.node_alive_key(self._node), "1", ex=NODE_TTL)

    async def _heartbeat(self) -> None:
        backoff = Backoff()
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._beat()
                backoff.reset()
            except Exception as exc:  # Redis down: retry with capped backoff, never crash
                log_unexpected("presence heartbeat", exc)
                await asyncio.sleep(backoff.next())

    async def join(self, event_id: int, sid: str, person: dict[str, Any]) -> None:
        value = json.dumps({**person, "node": self._node})
        await self._redis.hset(keys.presence_key(event_id), sid, value)

    async def leave(self, event_id: int, sid: str) -> None:
        await self._redis.hdel(keys.presence_key(event_id), sid)

    async def online(self, event_id: int) -> list[dict[str, Any]]:
        raw = await self._redis.hgetall(keys.presence_key(event_id))
        entries = {sid: json.loads(v) for sid, v in raw.items()}
        nodes = {e["node"] for e in entries.values()}
        alive = {n for n in nodes if await self._redis.exists(keys.node_alive_key(n))}
        dead = [sid for sid, e in entries.items() if e["node"] not in alive]
        if dead:
            await self._redis.hdel(keys.presence_key(event_id), *dead)
        return unique_people([e for e in entries.values() if e["node"] in alive])


def make_store(redis_url: str | None, node_id: str) -> Store:
    return RedisStore(redis_url, node_id) if redis_url else MemoryStore()
