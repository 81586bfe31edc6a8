"""Connecting to Redis: one server, or a Redis Cluster through cluster-aware clients.

With ``redis_cluster`` on, ``redis_url`` names any node of the cluster (a seed): redis-py's
``RedisCluster`` and FastStream's ``RedisClusterBroker`` learn the slots from it and send each
command to the primary that owns its key. Every key the platform uses carries a hash tag
(``shared.names``), so no command, transaction or script spans two slots.

What a cluster client cannot do the same way is said where it is done: the relay publishes
and confirms durability node by node (``shared.publishing``), Redis's memory is summed over
the primaries, and an AOF rewrite is asked of every node.
"""

from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis as redis_sync
from faststream.redis import RedisBroker, RedisClusterBroker
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster

from shared.settings import ServiceSettings


def redis_client(settings: ServiceSettings) -> Redis:
    """The process's Redis client. On one server, when every connection of its pool is in use,
    a request waits for one (up to ``redis_pool_wait_s``) rather than failing at once, as
    redis-py's default pool does: a burst of requests is served late, not answered 500.

    On a cluster, a ``RedisCluster`` typed as ``Redis``: it answers the same commands for
    single-slot keys, which are the only ones the platform sends (``is_cluster`` tells them
    apart where it matters)."""
    if settings.redis_cluster:
        return connect(settings.redis_url, cluster=True,
                       max_connections=settings.redis_max_connections)  # fmt: skip
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_wait_s,
    )
    return Redis.from_pool(pool)  # closed with the client


def connect(url: str, *, cluster: bool, **options: Any) -> Redis:
    """An asyncio client for ``url``: a ``RedisCluster`` (typed as ``Redis``) on a cluster."""
    if cluster:
        return cast(Redis, RedisCluster.from_url(url, **options))
    return Redis.from_url(url, **options)


def broker(settings: ServiceSettings, **options: Any) -> RedisBroker:
    """FastStream's broker for the consumers: its cluster variant on a cluster."""
    if settings.redis_cluster:
        return RedisClusterBroker(settings.redis_url, **options)
    return RedisBroker(settings.redis_url, **options)


def sync_client(url: str, *, cluster: bool = False, **options: Any) -> redis_sync.Redis:
    """A blocking client for the command line and tools, on one server or a cluster."""
    if cluster:
        return cast(redis_sync.Redis, redis_sync.RedisCluster.from_url(url, **options))
    return redis_sync.Redis.from_url(url, **options)


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster | redis_sync.RedisCluster)


def node_url(url: str, host: str, port: int) -> str:
    """``url`` (its user, password, scheme and options) pointed at one node of the cluster."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def memory(client: Redis) -> tuple[int, int]:
    """Memory Redis uses and its limit (0: none): summed over a cluster's primaries."""
    if not is_cluster(client):
        info = await client.info("memory")
        return int(info["used_memory"]), int(info.get("maxmemory", 0))
    cluster = await cast(RedisCluster, client).initialize()  # learns the nodes the first time
    per_node = await cluster.info("memory", target_nodes=cluster.get_primaries())
    nodes = [per_node] if "used_memory" in per_node else list(per_node.values())  # one primary
    return (sum(int(info["used_memory"]) for info in nodes),
            sum(int(info.get("maxmemory", 0)) for info in nodes))  # fmt: skip


async def rewrite_aof(client: Redis) -> None:
    """BGREWRITEAOF on the server, or on every node of a cluster (a replica's AOF holds what
    its primary's does)."""
    if is_cluster(client):
        # The nodes are named: redis-py 8.1 ignores a node flag (ALL_NODES) for this command.
        cluster = await cast(RedisCluster, client).initialize()
        await cluster.execute_command("BGREWRITEAOF", target_nodes=cluster.get_nodes())
    else:
        await client.bgrewriteaof()
