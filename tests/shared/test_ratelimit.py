"""The rate limit counts over a sliding window on real Redis: no span of ``window_s`` seconds
holds more than ``limit`` allowed hits, and a hit is refused only when one would."""

import asyncio
import itertools
import math
import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from shared.ratelimit import RateLimiter


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter_on(redis: Redis, clock: Clock, *, limit: int = 3, window_s: int = 60) -> RateLimiter:
    return RateLimiter(redis, f"test-{secrets.token_hex(4)}", limit=limit, window_s=window_s,
                       clock=clock)  # fmt: skip


async def test_hits_around_a_minute_boundary_still_count_together(redis: Redis) -> None:
    """Three hits in the last second of one minute and one in the next: the fourth within
    two seconds is refused (a fixed window let it through, and three more after it)."""
    clock = Clock(1_000_019.0)  # 1_000_020 is a multiple of 60: a fixed window's edge
    limiter = limiter_on(redis, clock)
    for at in (1_000_019.0, 1_000_019.5, 1_000_020.5):
        clock.now = at
        assert (await limiter.hit("client-1")).allowed
    clock.now = 1_000_021.0
    verdict = await limiter.hit("client-1")
    assert not verdict.allowed
    assert verdict.retry_after_s == 58  # when the hit at 19.0 leaves the window
    assert (await limiter.hit("client-2")).allowed  # subjects count apart

    clock.now = 1_000_079.0  # the first hit has left; the refused one never counted
    assert (await limiter.hit("client-1")).allowed
    assert not (await limiter.hit("client-1")).allowed


async def test_a_forgiven_hit_frees_its_place(redis: Redis) -> None:
    limiter = limiter_on(redis, Clock(), limit=1)
    assert (await limiter.hit("client-1")).allowed
    await limiter.forgive("client-1")
    assert (await limiter.hit("client-1")).allowed
    assert not (await limiter.hit("client-1")).allowed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.integers(1, 4),
    gaps=st.lists(st.integers(0, 40).map(lambda half_seconds: half_seconds / 2), max_size=40),
)
def test_a_hit_is_allowed_exactly_while_the_window_has_room(
    redis_url: str, limit: int, gaps: list[float]
) -> None:
    asyncio.run(_exactly_while_room(redis_url, limit, gaps))


async def _exactly_while_room(redis_url: str, limit: int, gaps: list[float]) -> None:
    window_s = 10
    clock = Clock()
    redis = Redis.from_url(redis_url)
    try:
        limiter = limiter_on(redis, clock, limit=limit, window_s=window_s)
        allowed: list[float] = []
        for at in itertools.accumulate(gaps, initial=clock.now):
            clock.now = at
            in_window = sum(1 for earlier in allowed if earlier > at - window_s)
            verdict = await limiter.hit("client-1")
            assert verdict.allowed == (in_window < limit), (at, allowed)
            if verdict.allowed:
                allowed.append(at)
            else:
                oldest = min(earlier for earlier in allowed if earlier > at - window_s)
                assert verdict.retry_after_s == max(1, math.ceil(oldest + window_s - at))
    finally:
        await redis.aclose()
