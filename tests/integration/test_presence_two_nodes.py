"""Presence across two server processes through the real Redis."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis

from tests.conftest import MODERATOR, REDIS_URL
from tests.helpers import Browser


async def test_presence_counts_people_on_both_nodes(two_nodes) -> None:
    a, b = two_nodes
    mod = Browser(a.url)
    await mod.login(*MODERATOR)
    moderator = await mod.connect()
    p1, p2 = Browser(b.url), Browser(b.url)
    await p1.register(name="Anna Lundström", region="Z")
    await p2.register(name="Lisa Ångman", region="X")
    c1, c2 = await p1.connect(), await p2.connect()
    try:
        listing = await moderator.wait_for("presence.list", lambda d: d["count"] == 3)
        names = {p["name"] for p in listing["people"]}
        assert names == {"Moderator", "Anna Lundström", "Lisa Ångman"}
        count = await c1.wait_for("presence.count", lambda d: d["count"] == 3)
        assert "people" not in count, "participants see the count, not the names"
        await c2.close()
        listing = await moderator.wait_for("presence.list", lambda d: d["count"] == 2)
        assert "Lisa Ångman" not in {p["name"] for p in listing["people"]}
    finally:
        await moderator.close()
        await c1.close()
        for browser in (mod, p1, p2):
            await browser.close()


async def test_a_dead_node_leaves_no_ghosts(two_nodes) -> None:
    a, b = two_nodes
    mod = Browser(a.url)
    await mod.login(*MODERATOR)
    moderator = await mod.connect()
    p = Browser(b.url)
    await p.register(name="Sonja Viklund", region="W")
    _participant = await p.connect()  # stays connected until its node dies
    try:
        await moderator.wait_for("presence.list", lambda d: d["count"] == 2)
        dead_node = (await p.http.get("/healthz")).json()["node"]
        b.proc.kill()  # no clean shutdown: its entries must still go
        b.proc.wait()
        r = redis.from_url(REDIS_URL)
        await r.expire(f"tp:node:{dead_node}:alive", 1)  # instead of waiting out the 30 s TTL
        await r.aclose()
        answer: dict = {}
        for _ in range(40):
            answer = await moderator.call("presence.get")
            if answer["count"] == 1:
                break
            await asyncio.sleep(0.25)
        assert answer and answer["count"] == 1
        assert [x["name"] for x in answer["people"]] == ["Moderator"]
    finally:
        await moderator.close()
        await mod.close()
        await p.close()
