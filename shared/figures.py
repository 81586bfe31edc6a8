"""Figures of what several processes share — a stream (its length, its dead letters), a
consumer group (pending entries, lag, the age of its oldest pending entry, its consumers), a
service's queue — exported by one process at a time, not by every replica: a dashboard sums
them as they are, and nothing is counted twice.

Whichever process holds the figure's lease observes it on each maintenance round; the others
export nothing for it. The lease (``SET NX PX``) lasts three rounds: when its holder stops,
another process takes over within that time.
"""

import time

from redis.asyncio import Redis

from shared import redis_connect
from shared.names import FIGURES_LEASE_PREFIX, dead_letter_stream
from shared.telemetry import Metrics

ROUNDS_HELD = 3


async def ours(redis: Redis, figure: str, holder: str, round_s: float) -> bool:
    """Whether ``holder`` exports ``figure`` this round (its lease taken now, or kept)."""
    key, ttl_ms = f"{FIGURES_LEASE_PREFIX}{figure}", max(1, int(ROUNDS_HELD * round_s * 1000))
    if await redis.set(key, holder, nx=True, px=ttl_ms):
        return True
    if await redis.get(key) == holder.encode():
        return bool(await redis.pexpire(key, ttl_ms))
    return False


def age_s(entry_id: str | bytes, now_s: float) -> float:
    """Seconds since the entry was added (its id's first part is milliseconds since 1970)."""
    if isinstance(entry_id, bytes):
        entry_id = entry_id.decode()
    return max(0.0, now_s - int(entry_id.split("-")[0]) / 1000)


async def observe(
    redis: Redis, metrics: Metrics, stream: str, group: str, *, holder: str, round_s: float
) -> None:
    """Export the stream's and the group's figures if ``holder`` holds their leases."""
    if await ours(redis, f"{stream}|{group}", holder, round_s):
        await _observe_group(redis, metrics, stream, group)
    else:
        metrics.forget_group(stream, group)
    if await ours(redis, stream, holder, round_s):
        length = await redis.xlen(stream)
        dead = await redis.xlen(dead_letter_stream(stream))
        metrics.observe_stream(stream, length=length, dead_letters=dead)
    else:
        metrics.forget_stream(stream)


async def _observe_group(redis: Redis, metrics: Metrics, stream: str, group: str) -> None:
    for info in await redis.xinfo_groups(stream):
        if info["name"].decode() != group:
            continue
        summary = await redis.xpending(stream, group)
        oldest = age_s(summary["min"], time.time()) if summary["pending"] else 0.0
        metrics.observe_group(
            stream, group, pending=info["pending"], lag=info.get("lag"),
            consumers=info["consumers"], oldest_pending_s=oldest,
        )  # fmt: skip


async def observe_redis(redis: Redis, metrics: Metrics, *, holder: str, round_s: float) -> None:
    """Redis's memory (``INFO memory``; a cluster's primaries summed), from the one process
    holding its lease."""
    if await ours(redis, "redis-memory", holder, round_s):
        used, limit = await redis_connect.memory(redis)
        metrics.observe_redis(used=used, limit=limit)
    else:
        metrics.observe_redis(used=None, limit=None)
