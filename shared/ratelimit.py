"""Sliding-window rate limits kept in Redis, so every replica of a service counts together.

Each subject's allowed hits are a sorted set scored by time: a hit is allowed while fewer than
``limit`` others fall within the last ``window_s`` seconds, so no span of ``window_s`` seconds
ever holds more than ``limit`` allowed hits (a fixed window lets twice that through around its
edge). A refused hit is taken back, so a caller that keeps knocking is let in once the window
has room again.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from math import ceil

from redis.asyncio import Redis

from shared.names import rate_limit_key


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: int


class RateLimiter:
    """At most ``limit`` hits within any ``window_s`` seconds per subject within a scope."""

    def __init__(
        self,
        redis: "Redis",
        scope: str,
        *,
        limit: int,
        window_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.scope = scope
        self.limit = limit
        self.window_s = window_s
        self.clock = clock

    async def hit(self, subject: str) -> Verdict:
        now = self.clock()
        key = rate_limit_key(self.scope, subject)
        member = f"{now:.6f}:{uuid.uuid4().hex}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now - self.window_s)
            pipe.zadd(key, {member: now})
            pipe.zcard(key)
            pipe.zrange(key, 0, 0, withscores=True)
            pipe.expire(key, self.window_s + 1)
            _, _, count, oldest, _ = await pipe.execute()
        if int(count) <= self.limit:
            return Verdict(allowed=True, retry_after_s=0)
        await self.redis.zrem(key, member)
        # the earliest the oldest hit in the window leaves it
        leaves = float(oldest[0][1]) + self.window_s if oldest else now + self.window_s
        return Verdict(allowed=False, retry_after_s=max(1, ceil(leaves - now)))

    async def forgive(self, subject: str) -> None:
        """Take back the latest hit (an attempt that turned out fine)."""
        await self.redis.zpopmax(rate_limit_key(self.scope, subject))
