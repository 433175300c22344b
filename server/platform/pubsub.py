"""The one Redis edge of the platform: clients with redis-py's own retry, and long-lived pub/sub
subscriptions that survive Redis going away.

Every listener (the notes bus, the room media bus, the node request bus) is a `Subscription`:
- each message is handled on its own guard: one that fails to decode or to apply goes through
  the one logging hook and the subscription goes on (a bad message used to end one of them);
- when the connection is lost the subscription comes back by itself, with one capped backoff
  (1 s doubling to 60 s, back to 1 s once subscribed again), as python-socketio's Redis manager
  does; after each (re)subscription `on_subscribed` runs, so a listener can catch up on what
  it missed (the notes bus asks for its rooms' state again);
- `start()` waits for the first subscription a bounded time and then lets it keep trying in
  the background, so a node starts even while Redis does not answer yet.
Commands (publish, get, set) retry a dropped connection through redis-py's `Retry` (a Redis
restart or failover leaves every pooled connection dead).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from server.platform.errors import log_unexpected

Handle = Callable[[str, Any], Awaitable[None] | None]
"""(channel, data) of one message."""

BACKOFF_FIRST, BACKOFF_CAP = 1.0, 60.0
COMMAND_RETRIES = 3


def redis_client(
    url: str, *, decode: bool = False, name: str | None = None, retries: int = COMMAND_RETRIES
) -> Any:
    """A redis.asyncio client whose commands retry a dropped connection (exponential backoff
    with jitter, at most `retries` times) before the error reaches the caller.

    A `Subscription` gets a client of its own with `retries=0`: redis-py would otherwise
    reconnect a pub/sub connection silently, and the messages of the gap would be lost without
    the listener knowing it has to catch up."""
    import redis.asyncio as redis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.exceptions import ConnectionError, TimeoutError

    return redis.from_url(
        url, decode_responses=decode, client_name=name,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries),
        retry_on_error=[ConnectionError, TimeoutError],
    )


class Backoff:
    """Capped exponential backoff: `next()` gives the wait, `reset()` starts over."""

    def __init__(self, first: float = BACKOFF_FIRST, cap: float = BACKOFF_CAP) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        wait, self._next = self._next, min(self._next * 2, self.cap)
        return wait

    def reset(self) -> None:
        self._next = self.first


class Subscription:
    """One listener on some channels of one Redis, owned by the service that starts it."""

    def __init__(
        self, url: str, channels: Sequence[str], handle: Handle, *, name: str,
        client_name: str | None = None, decode: bool = False,
        on_subscribed: Callable[[], Awaitable[None]] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._client = redis_client(url, decode=decode, name=client_name, retries=0)
        self._channels = list(channels)
        self._handle = handle
        self._name = name
        self._on_subscribed = on_subscribed
        self._backoff = backoff or Backoff()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.subscriptions = 0
        """How often it has (re)subscribed (diagnostics, tests)."""

    async def start(self, wait: float = 10.0) -> None:
        self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(asyncio.shield(self._subscribed.wait()), wait)
        except TimeoutError:  # Redis not there yet: the listener keeps trying
            log_unexpected(self._name, TimeoutError(f"not subscribed after {wait:g} s"))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._client.aclose()

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone: try again; what runs on this node goes on
                log_unexpected(self._name, exc)
            self._subscribed.clear()
            await asyncio.sleep(self._backoff.next())

    async def _listen(self) -> None:
        async with self._client.pubsub() as pubsub:
            await pubsub.subscribe(*self._channels)
            self.subscriptions += 1
            self._subscribed.set()
            self._backoff.reset()
            await self._caught_up()
            async for raw in pubsub.listen():
                if raw.get("type") == "message":
                    await self._one(raw["channel"], raw["data"])

    async def _caught_up(self) -> None:
        if self._on_subscribed is None:
            return
        try:
            await self._on_subscribed()
        except Exception as exc:  # publishing may fail while Redis recovers
            log_unexpected(f"{self._name} resubscribed", exc)

    async def _one(self, channel: Any, data: Any) -> None:
        try:
            result = self._handle(channel.decode() if isinstance(channel, bytes) else channel, data)
            if result is not None:
                await result
        except Exception as exc:  # one bad message must not end the subscription
            log_unexpected(f"{self._name} message", exc)
