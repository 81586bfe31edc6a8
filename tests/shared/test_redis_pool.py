"""A service's Redis client under a burst: more requests at once than its pool has connections
wait their turn (bounded by ``redis_pool_wait_s``) instead of failing. redis-py's default pool
raised "Too many connections" at the 101st, and the request was answered 500 (found by the
benchmark's steady run, issue 15)."""

import asyncio
import secrets

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.names import Service
from shared.ratelimit import RateLimiter
from shared.redis_connect import redis_client
from shared.settings import ServiceSettings, settings_for


def settings(redis_url: str, **changes: object) -> ServiceSettings:
    return settings_for(Service.STATS).model_copy(update={"redis_url": redis_url, **changes})


async def test_a_burst_beyond_the_pool_is_served(redis_url: str) -> None:
    """300 rate-limit checks at once through a service's client of 100 connections: all are
    answered (before: 200 failed with "Too many connections")."""
    client = redis_client(settings(redis_url))
    limiter = RateLimiter(client, f"test-{secrets.token_hex(4)}", limit=10_000, window_s=60)
    try:
        verdicts = await asyncio.gather(*(limiter.hit("client-1") for _ in range(300)))
    finally:
        await client.aclose()
    assert all(verdict.allowed for verdict in verdicts)


async def test_the_wait_for_a_connection_is_bounded(redis_url: str) -> None:
    """With every connection busy for longer than ``redis_pool_wait_s``, a request fails with
    a connection error after that wait, not after the busy one ends."""
    client = redis_client(settings(redis_url, redis_max_connections=1, redis_pool_wait_s=0.2))
    try:
        busy = asyncio.ensure_future(client.blpop([f"test-{secrets.token_hex(4)}"], timeout=2))
        await asyncio.sleep(0.1)  # the one connection is taken
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.ping()
        assert await busy is None  # the busy request itself ends normally
    finally:
        await client.aclose()
