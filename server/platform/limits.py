"""Abuse limits: how often one person (or one client address) may do one thing.

Built on the `limits` library with its moving window (a true sliding window: the last N
actions within `window` seconds, never a counter that resets on the minute, which let a burst
straddle two windows and made limits depend on the clock). Counters live in Redis when
`REDIS_URL` is set, so every web node counts the same person once, and in memory otherwise.
Losing them loses no data: a restart just forgets who was counted.
"""

from __future__ import annotations

import time

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from server.platform.keys import rate_key


class RateLimits:
    def __init__(self, redis_url: str | None) -> None:
        self._storage: Storage = (
            RedisStorage(f"async+{redis_url}") if redis_url else MemoryStorage())
        self._limiter = MovingWindowRateLimiter(self._storage)

    async def hit(self, action: str, who: str, limit: int, window: int) -> bool:
        """Count one `action` by `who`; False once `limit` were counted in the last `window`
        seconds (and then this one is not counted)."""
        return await self._limiter.hit(RateLimitItemPerSecond(limit, window), rate_key(action, who))

    async def allowed(self, action: str, who: str, limit: int, window: int) -> bool:
        """Whether one more `action` would pass, without counting it (failed logins count
        only when they fail)."""
        item = RateLimitItemPerSecond(limit, window)
        return await self._limiter.test(item, rate_key(action, who))

    async def retry_after(self, action: str, who: str, limit: int, window: int) -> int:
        """Whole seconds until `who` may do `action` again (at least 1)."""
        stats = await self._limiter.get_window_stats(
            RateLimitItemPerSecond(limit, window), rate_key(action, who))
        return max(1, int(stats.reset_time - time.time() + 0.999))

    async def clear(self, action: str, who: str, limit: int, window: int) -> None:
        await self._limiter.clear(RateLimitItemPerSecond(limit, window), rate_key(action, who))
