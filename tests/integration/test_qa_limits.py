"""Rate limits on asking and voting, counted in the real Redis, shared by two server processes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as redis

from server.platform import keys
from server.platform.store import RedisStore
from server.qa.service import RATE_WINDOW
from tests.conftest import MODERATOR, REDIS_URL, LiveServer, seed, server_env
from tests.helpers import Browser, Client
from tests.integration.test_qa_sockets import person

pytestmark = pytest.mark.slow  # two server processes


async def flush_redis() -> None:
    r = redis.from_url(REDIS_URL)
    await r.flushdb()
    await r.aclose()


@pytest.fixture(autouse=True)
async def clean_counters() -> AsyncIterator[None]:
    """Counters are keyed by registration id, and ids restart with every test's clean database:
    leave none behind for the next test (in this file or another) within the same minute."""
    await flush_redis()
    yield
    await flush_redis()


@asynccontextmanager
async def on_both(one: LiveServer, two: LiveServer, name: str
                  ) -> AsyncIterator[tuple[Client, Client]]:
    """One participant with a socket on each node (the same session cookie, two tabs)."""
    first = Browser(one.url)
    await first.register(name=name)
    second = Browser(two.url)
    second.http.cookies.update(dict(first.http.cookies))
    a, b = await first.connect(), await second.connect()
    try:
        yield a, b
    finally:
        for closing in (a, b, first, second):
            await closing.close()


async def test_redis_store_counts_one_window_for_every_node() -> None:
    who, action = f"participant:test-{uuid.uuid4().hex}", "qa.test"
    node_a, node_b = RedisStore(REDIS_URL, "node-a"), RedisStore(REDIS_URL, "node-b")
    try:
        hits = [await store.rates.hit(action, who, 3, RATE_WINDOW)
                for store in (node_a, node_b, node_a, node_b, node_a)]
        assert hits == [True, True, True, False, False], "one count across both nodes"
        assert await node_b.rates.hit(action, f"{who}-other", 3, RATE_WINDOW), "per participant"
        assert await node_b.rates.hit("qa.other", who, 3, RATE_WINDOW), "per action"
        r = redis.from_url(REDIS_URL)
        stored = [k async for k in r.scan_iter(f"*{keys.rate_key(action, who)}*")]
        assert stored, "the window lives in Redis, where every node counts"
        ttls = [await r.ttl(k) for k in stored]
        assert all(0 < ttl <= RATE_WINDOW for ttl in ttls), "and expires by itself"
        await r.aclose()
    finally:
        await node_a.stop()
        await node_b.stop()


async def test_ask_limit_is_shared_by_two_processes(two_nodes) -> None:
    one, two = two_nodes
    async with on_both(one, two, "Snabb på två noder") as (a, b):
        answers = [await client.call("qa.ask", {"text": f"Fråga {n}"})
                   for n, client in enumerate((a, b, a, b, a, b, a))]
        assert [x["ok"] for x in answers] == [True] * 5 + [False] * 2, answers
        assert {x["error"]["code"] for x in answers[5:]} == {"qa.rate_limited"}
        for client in (a, b):
            error = await client.wait_for("error", lambda d: d["code"] == "qa.rate_limited")
            assert error["event"] == "qa.ask"
            assert error["details"] == {"limit": 5, "window": RATE_WINDOW,
                                        "retry_after": error["details"]["retry_after"]}
            assert 0 < error["details"]["retry_after"] <= RATE_WINDOW, "when to try again"


@pytest.fixture
async def two_nodes_few_votes(clean_db: str, tmp_path: Path
                              ) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """Two processes on Redis with QA_VOTE_PER_MINUTE=3."""
    await seed(clean_db)
    env = {**server_env(clean_db, tmp_path / "media", REDIS_URL), "QA_VOTE_PER_MINUTE": "3"}
    one, two = LiveServer(env), LiveServer(env)
    try:
        one.spawn()
        two.spawn()  # side by side
        yield one.wait(), two.wait()
    finally:
        one.terminate()
        two.stop()
        one.stop()


async def test_vote_limit_refuses_clearly_and_changes_nothing(two_nodes_few_votes) -> None:
    one, two = two_nodes_few_votes
    async with person(one.url, "Frågvis") as (_, asker), \
            person(two.url, login=MODERATOR) as (_, mod), \
            person(one.url, "Lugn väljare") as (_, calm), on_both(one, two, "Ivrig") as (a, b):
        qid = (await asker.call("qa.ask", {"text": "Rösta på mig"}))["question"]["id"]
        await mod.call("qa.approve", {"question_id": qid})
        votes = [await a.call("qa.vote", {"question_id": qid, "up": True}),
                 await b.call("qa.vote", {"question_id": qid, "up": False}),
                 await a.call("qa.vote", {"question_id": qid, "up": True})]
        assert [v["ok"] for v in votes] == [True] * 3, votes
        refused = await b.call("qa.vote", {"question_id": qid, "up": False})
        assert refused["ok"] is False
        assert refused["error"] == {
            "code": "qa.rate_limited", "message": refused["error"]["message"],
            "details": {"limit": 3, "window": RATE_WINDOW,
                        "retry_after": refused["error"]["details"]["retry_after"]}}
        assert refused["error"]["message"], "a message the page can show as it is"
        error = await b.wait_for("error", lambda d: d["code"] == "qa.rate_limited")
        assert error["event"] == "qa.vote"

        snap = await b.call("qa.snapshot")
        assert (snap["questions"][0]["voted"], snap["questions"][0]["votes"]) == (True, 1), (
            "the refused vote took nothing back")
        other = await calm.call("qa.vote", {"question_id": qid})
        assert other["ok"] and other["votes"] == 2, "the limit is per participant"

