"""Sending the relay's batch to Redis and confirming it is durable (``shared.durability``).

On one server the batch is one pipeline ending with the confirming command. On a cluster,
WAITAOF and WAIT confirm only the writes of the connection they run on, and a cluster
client's pipeline spreads keyless commands over nodes of its choosing: so the entries of
each node's streams go over a connection to that node, confirmed there, each node's batch at
once with the others'. A node that fails or no longer owns a stream's slot leaves that
node's entries unpublished (the relay sends them again) and has the client learn the slots
anew, as after a failover.
"""

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import RedisError

from shared.durability import Durability, NotDurable
from shared.redis_connect import node_url

log = logging.getLogger(__name__)

Entry = tuple[str, Mapping[Any, Any]]  # (stream, fields)
Sent = list[Any]
"""For each entry: its id, or the exception that left it unpublished (``NotDurable`` when
Redis could lose it)."""


class Publisher:
    """Sends entries to one Redis server and confirms them there."""

    def __init__(self, redis: Redis, durability: Durability | None = None) -> None:
        self.redis = redis
        self.durability = durability or Durability(redis)

    @property
    def problem(self) -> str | None:
        """Why the last batch was not confirmed (None once one was)."""
        return self.durability.problem

    async def send(self, entries: Sequence[Entry]) -> Sent:
        try:
            await self.durability.before_publishing()
        except NotDurable as error:
            return [error] * len(entries)
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, fields in entries:
                pipe.xadd(stream, dict(fields))
            waited = self.durability.add_wait(pipe)
            results = await pipe.execute(raise_on_error=False)
        if waited:
            try:
                self.durability.confirm(results.pop())
            except NotDurable as error:
                return [error] * len(entries)
        return list(results)

    async def aclose(self) -> None:
        """Nothing of its own to close: the client is the caller's."""


class ClusterPublisher:
    """Sends each node's entries over a connection to that node, and confirms them there."""

    def __init__(
        self, cluster: RedisCluster, url: str, durability: Callable[[Redis], Durability]
    ) -> None:
        self.cluster = cluster
        self.url = url
        self.durability = durability
        self._nodes: dict[str, Publisher] = {}
        self._last: set[str] = set()  # the nodes the last batch went to

    @property
    def problem(self) -> str | None:
        problems = (self._nodes[name].problem for name in self._last)
        return next((problem for problem in problems if problem is not None), None)

    async def send(self, entries: Sequence[Entry]) -> Sent:
        await self.cluster.initialize()  # learns the slots the first time only
        by_node: dict[str, tuple[ClusterNode, list[int]]] = {}
        for index, (stream, _) in enumerate(entries):
            node = self.cluster.get_node_from_key(stream)
            assert node is not None  # a primary is asked for: None only for replicas
            by_node.setdefault(node.name, (node, []))[1].append(index)
        sent: Sent = [None] * len(entries)
        self._last = set(by_node)

        async def to(node: ClusterNode, indexes: list[int]) -> None:
            try:
                results = await self._publisher(node).send([entries[i] for i in indexes])
            except RedisError as error:  # the node is down, or failing over
                results = [error] * len(indexes)
            for index, result in zip(indexes, results, strict=True):
                sent[index] = result

        await asyncio.gather(*(to(node, indexes) for node, indexes in by_node.values()))
        failed = [r for r in sent if isinstance(r, Exception)]
        if failed:  # MOVED, a node gone, or one that is a replica now (its WAIT refused):
            # where the slots are now
            log.warning("publishing to the cluster failed (%s: %s); learning its slots again",
                        type(failed[0]).__name__, failed[0])  # fmt: skip
            await self._learn_slots()
        return sent

    def _publisher(self, node: ClusterNode) -> Publisher:
        if node.name not in self._nodes:
            redis = Redis.from_url(node_url(self.url, node.host, int(node.port)))
            self._nodes[node.name] = Publisher(redis, self.durability(redis))
        return self._nodes[node.name]

    async def _learn_slots(self) -> None:
        try:
            await self.cluster.nodes_manager.initialize()
        except RedisError as error:  # no node answers yet: the next batch tries again
            log.warning("the cluster's slots could not be learnt: %s", type(error).__name__)

    async def aclose(self) -> None:
        for publisher in self._nodes.values():
            await publisher.redis.aclose()
        self._nodes.clear()
