"""Abuse limits: how often one person (or one client address) may do one thing.

Built on the `limits` library with its moving window (a true sliding window: the last N
actions within `window` seconds, never a counter that resets on the minute, which let a burst
straddle two windows and made limits depend on the clock). Counters live in Redis when
`REDIS_URL` is set, so every web node counts the same person once, and in memory otherwise.
Losing them loses no data: a restart just forgets who was counted.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from server.platform.keys import rate_key

log = logging.getLogger("traffpunkt.limits")


class RateLimits:
    """While Redis does not answer (a restart, seconds), each node counts in its own memory:
    the limits still hold, per node, and nobody's question or vote fails for the counter's
    sake (bench/rehearsal.py saw chat and votes refused with server errors for it)."""

    def __init__(self, redis_url: str | None) -> None:
        self._storage: Storage = (
            RedisStorage(f"async+{redis_url}", wrap_exceptions=True) if redis_url
            else MemoryStorage())
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._down_since: float | None = None

    async def _ask(self, method: str, *args: Any) -> Any:
        try:
            answer = await getattr(self._limiter, method)(*args)
        except (StorageError, ConnectionError, TimeoutError) as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("rate limits: Redis does not answer (%r); counting on this node", exc)
            return await getattr(self._local, method)(*args)
        if self._down_since is not None:
            log.warning("rate limits: Redis answers again after %.1f s",
                        time.monotonic() - self._down_since)
            self._down_since = None
        return answer

    async def hit(self, action: str, who: str, limit: int, window: int) -> bool:
        """Count one `action` by `who`; False once `limit` were counted in the last `window`
        seconds (and then this one is not counted)."""
        return bool(await self._ask("hit", RateLimitItemPerSecond(limit, window),
                                    rate_key(action, who)))

    async def allowed(self, action: str, who: str, limit: int, window: int) -> bool:
        """Whether one more `action` would pass, without counting it (failed logins count
        only when they fail)."""
        item = RateLimitItemPerSecond(limit, window)
        return bool(await self._ask("test", item, rate_key(action, who)))

    async def retry_after(self, action: str, who: str, limit: int, window: int) -> int:
        """Whole seconds until `who` may do `action` again (at least 1)."""
        stats = await self._ask("get_window_stats", RateLimitItemPerSecond(limit, window),
                                rate_key(action, who))
        return max(1, int(stats.reset_time - time.time() + 0.999))

    async def clear(self, action: str, who: str, limit: int, window: int) -> None:
        await self._ask("clear", RateLimitItemPerSecond(limit, window), rate_key(action, who))
