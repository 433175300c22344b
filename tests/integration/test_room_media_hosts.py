"""Which node hosts a breakout room's media, on the real Redis: one host however many nodes
ask at once, the least loaded live media node, never a web node, and a new host when one dies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from server.platform import keys
from server.platform.errors import DomainError
from server.room_media.service import ALIVE_TTL, RoomMediaHosts
from tests.conftest import REDIS_URL


@pytest.fixture
async def r() -> AsyncIterator[redis.Redis]:
    client = redis.from_url(REDIS_URL, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


async def _nodes(r: redis.Redis, *names: str, serves: bool = True) -> list[RoomMediaHosts]:
    nodes = [RoomMediaHosts(REDIS_URL, name, serves) for name in names]
    for node in nodes:
        await node.beat()
    return nodes


async def test_nodes_asking_at_once_agree_on_one_host_and_spread_rooms_by_load(r) -> None:
    nodes = await _nodes(r, "a", "b", "c")
    for node, load in zip(nodes, ({1: 6}, {2: 1}, {3: 3}), strict=True):
        await node.report(load)
    hosts = await asyncio.gather(*(node.host(10) for node in nodes for _ in range(3)))
    assert set(hosts) == {"b"}, "the least loaded node, the same answer for everyone"
    await nodes[1].report({2: 1, 10: 8})
    assert await nodes[0].host(11) == "c", "b is busy now"
    for node in nodes:
        await node.close()


async def test_a_web_node_never_hosts_and_says_so_when_no_media_node_runs(r) -> None:
    [web] = await _nodes(r, "webb", serves=False)
    await web.report({})
    with pytest.raises(DomainError) as refused:
        await web.host(5)
    assert refused.value.code == "room_media.no_host"
    [media] = await _nodes(r, "media")
    await media.report({})
    assert await web.host(5) == "media"
    for node in (web, media):
        await node.close()


async def test_a_room_whose_host_died_moves_to_a_live_node_once(r) -> None:
    a, b, c = await _nodes(r, "a", "b", "c")
    await a.report({})
    assert await a.host(7) == "a"
    await b.report({8: 1})
    await c.report({9: 1})
    assert await b.host(7) == "a", "a live host keeps its room"
    await a.report({7: 0})  # everyone left a's room; a still looks the least loaded
    assert await r.ttl(keys.room_media_alive_key("a")) <= ALIVE_TTL
    await r.delete(keys.room_media_alive_key("a"))  # a's heartbeat stopped (or lapsed)
    moved = await asyncio.gather(b.host(7), c.host(7), b.host(7), c.host(7))
    assert len(set(moved)) == 1 and moved[0] in ("b", "c")
    assert "a" not in await r.hgetall(keys.ROOM_MEDIA_LOAD), "the dead node is forgotten"
    for node in (a, b, c):
        await node.close()
