"""The one Redis pub/sub helper every listener uses (server/platform/pubsub.py), on the real
Redis: a bad message does not end a subscription, and a dropped connection comes back by
itself and says so (the notes bus catches up then)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from server.platform.pubsub import Backoff, Subscription, redis_client
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for a condition, polling; fail with the timeout (a ceiling, not a timing assert)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_bad_message_is_logged_and_the_next_one_still_arrives(caplog) -> None:
    channel = f"test-pubsub-{secrets.token_hex(4)}"
    client = redis_client(REDIS_URL)
    got: list[int] = []

    async def handle(_channel: str, raw: bytes) -> None:
        got.append(int(raw))  # b"garbage" raises ValueError

    sub = Subscription(REDIS_URL, [channel], handle, name="test bus")
    await sub.start()
    try:
        for raw in (b"1", b"garbage", b"2"):
            await client.publish(channel, raw)
        await until(lambda: got == [1, 2])
        assert "test bus message" in caplog.text, "the bad message went through the log hook"
        assert sub.subscriptions == 1
    finally:
        await sub.stop()
        await client.aclose()


async def test_a_killed_connection_resubscribes_and_catches_up() -> None:
    channel = f"test-pubsub-{secrets.token_hex(4)}"
    name = f"tp-test-{secrets.token_hex(4)}"
    admin = redis_client(REDIS_URL)
    got: list[bytes] = []
    caught_up = asyncio.Event()

    async def handle(_channel: str, raw: bytes) -> None:
        got.append(raw)

    async def resubscribed() -> None:
        caught_up.set()

    sub = Subscription(REDIS_URL, [channel], handle, name="test bus", client_name=name,
                       on_subscribed=resubscribed, backoff=Backoff(first=0.05, cap=0.2))
    await sub.start()
    try:
        await until(lambda: caught_up.is_set())
        caught_up.clear()
        for client in await admin.client_list():  # only this listener's connection
            if client["name"] == name:
                await admin.client_kill_filter(_id=client["id"])
        await asyncio.wait_for(caught_up.wait(), 10)
        assert sub.subscriptions == 2
        await admin.publish(channel, b"after")
        await until(lambda: got == [b"after"])
    finally:
        await sub.stop()
        await admin.aclose()


def test_backoff_doubles_to_its_cap_and_starts_over() -> None:
    backoff = Backoff(first=1, cap=60)
    assert [backoff.next() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    backoff.reset()
    assert backoff.next() == 1
