"""Fixed-window rate limits kept in Redis, so every replica of a service counts together."""

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.names import rate_limit_key


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: int


class RateLimiter:
    """At most ``limit`` hits per ``window_s`` seconds per subject within a scope."""

    def __init__(self, redis: "Redis", scope: str, *, limit: int, window_s: int) -> None:
        self.redis = redis
        self.scope = scope
        self.limit = limit
        self.window_s = window_s

    async def hit(self, subject: str) -> Verdict:
        now = time.time()
        window = int(now // self.window_s)
        key = rate_limit_key(self.scope, subject, window)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window_s + 1)
            count, _ = await pipe.execute()
        retry_after = max(1, int((window + 1) * self.window_s - now + 0.999))
        return Verdict(allowed=int(count) <= self.limit, retry_after_s=retry_after)

    async def forgive(self, subject: str) -> None:
        """Take back one hit of the current window (an attempt that turned out fine)."""
        window = int(time.time() // self.window_s)
        await self.redis.decr(rate_limit_key(self.scope, subject, window))

    async def exceeded(self, subject: str) -> Verdict:
        """Whether ``subject`` is already over the limit, without counting a hit."""
        now = time.time()
        window = int(now // self.window_s)
        count = await self.redis.get(rate_limit_key(self.scope, subject, window))
        retry_after = max(1, int((window + 1) * self.window_s - now + 0.999))
        return Verdict(allowed=int(count or 0) < self.limit, retry_after_s=retry_after)
