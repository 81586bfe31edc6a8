"""The services' Redis plumbing on a real Redis Cluster (three primaries, a replica each,
the platform's ACL users on every node): the relay publishes each node's streams over a
connection to that node and has the node's replica confirm them; a primary SIGKILLed while
the relay publishes loses nothing the relay marked published; and the cluster-only paths
(memory, AOF rewrite, a service user learning the slots) work."""

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis, RedisCluster

from safereturn import redis_access
from shared import deadletter, redis_connect
from shared.db import Database
from shared.deadletter import Failure
from shared.durability import Durability
from shared.names import Service, Stream, dead_letter_stream
from shared.outbox import OutboxRelay, UnitOfWork
from shared.publishing import ClusterPublisher
from shared.redis_acl import OPERATOR, generate_password, platform_users, with_credentials
from shared.redis_server import find_redis_server
from shared.settings import ServiceSettings
from tests.redis_cluster import LocalCluster, local_cluster, unavailable
from tests.support import registry

STREAMS = (Stream.CASES, Stream.ACTIVITIES, Stream.PLATFORM)  # intake's user may XADD to each
Cluster = tuple[LocalCluster, dict[str, str]]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if reason := unavailable():
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("cluster")
    users = platform_users(redis72=False)
    passwords = {user.name: generate_password() for user in users}
    acl = directory / "users.acl"
    redis_access.write_acl(acl, users, passwords)
    with local_cluster(directory, find_redis_server(), acl, OPERATOR, passwords[OPERATOR]) as c:
        yield c, passwords


def intake_url(cluster: Cluster) -> str:
    local, passwords = cluster
    return with_credentials(local.address, Service.INTAKE, passwords[Service.INTAKE])


@pytest.fixture
async def intake(cluster: Cluster) -> AsyncIterator[Redis]:
    """A cluster client as intake's ACL user, on a cluster with no streams left over."""
    operator = cluster[0].client()
    for stream in STREAMS:
        operator.delete(stream)
    operator.close()
    settings = ServiceSettings(redis_url=intake_url(cluster), redis_cluster=True)
    client = redis_connect.redis_client(settings)
    yield client
    await client.aclose()


def cluster_relay(database: Database, client: Redis, url: str) -> OutboxRelay:
    def durability(node: Redis) -> Durability:
        return Durability(node, fsync_declared=True, replicas=1)  # a replica holds each batch

    assert isinstance(client, RedisCluster)
    publisher = ClusterPublisher(client, url, durability)
    return OutboxRelay(database, client, batch_size=50, poll_interval=0.05, publisher=publisher)


async def emit(database: Database, numbers: range) -> None:
    """Entry n goes to ``STREAMS[n % 3]``: every batch spans the nodes."""
    async with database.transaction() as session:
        uow = UnitOfWork(session, source="/safereturn/tests", registry=registry)
        for n in numbers:
            await uow.forward(STREAMS[n % len(STREAMS)], {"type": "test.tick", "n": str(n)})


def published(cluster: Cluster) -> dict[str, list[int]]:
    """What each stream holds, read as the operator (intake may not read every one)."""
    client = cluster[0].client()
    try:
        return {str(stream): [int(fields[b"n"]) for _, fields in client.xrange(stream)]
                for stream in STREAMS}  # fmt: skip
    finally:
        client.close()


def expected(numbers: range) -> dict[str, list[int]]:
    return {str(s): [n for n in numbers if STREAMS[n % len(STREAMS)] == s] for s in STREAMS}


async def test_each_node_gets_its_streams_confirmed_by_its_replica(
    cluster: Cluster, intake: Redis, database: Database
) -> None:
    local, _ = cluster
    owners = {local.primary_of(stream).port for stream in STREAMS}
    assert len(owners) > 1, "the streams' slots lie on more than one primary"
    await emit(database, range(30))
    relay = cluster_relay(database, intake, intake_url(cluster))
    assert await relay.publish_batch() == 30
    assert published(cluster) == expected(range(30))  # in order, within each stream
    assert relay.publisher.problem is None
    assert await relay.backlog() == 0
    await relay.publisher.aclose()


async def test_a_primary_killed_while_the_relay_publishes_loses_nothing_marked_published(
    cluster: Cluster, intake: Redis, database: Database
) -> None:
    local, _ = cluster
    relay = cluster_relay(database, intake, intake_url(cluster))
    running = asyncio.create_task(relay.run())

    async def changes() -> None:  # commits the relay publishes as they come
        for start in range(0, 600, 10):
            await emit(database, range(start, start + 10))
            await asyncio.sleep(0.02)

    try:
        committing = asyncio.create_task(changes())
        await asyncio.sleep(0.3)
        await asyncio.to_thread(local.fail_over, Stream.CASES)  # while batches go out
        await committing
        for _ in range(600):
            if await relay.backlog() == 0:
                break
            await asyncio.sleep(0.1)
        assert await relay.backlog() == 0, "the relay publishes again once the replica took over"
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await relay.publisher.aclose()
    found = published(cluster)
    for stream, numbers in expected(range(600)).items():
        # A batch whose confirmation the failover cut short is sent again: the same entries
        # twice (consumers drop repeats by their inbox), never one missing.
        assert sorted(set(found[stream])) == numbers, stream


async def test_memory_is_summed_over_the_primaries_and_every_node_rewrites_its_aof(
    cluster: Cluster,
) -> None:
    local, _ = cluster
    client = redis_connect.redis_client(ServiceSettings(redis_url=local.url, redis_cluster=True))
    node = Redis.from_url(local.nodes[0].url)
    try:
        used, limit = await redis_connect.memory(client)
        one = await node.info("memory")
        assert used > int(one["used_memory"])  # three primaries, each with its own
        assert limit == 0
        await redis_connect.rewrite_aof(client)  # refused by any node, it would raise
    finally:
        await client.aclose()
        await node.aclose()


async def test_an_entry_moves_to_its_dead_letters_in_one_transaction_on_its_slot(
    cluster: Cluster,
) -> None:
    """The MULTI/EXEC that dead-letters an entry (XADD to ``…:dlq``, XACK) runs on the slot
    both keys share, as the consuming service's own user; the operator lists it."""
    local, passwords = cluster
    operator = local.client()
    operator.delete(Stream.CASES, dead_letter_stream(Stream.CASES))
    operator.xgroup_create(Stream.CASES, "safereturn.stats", id="0", mkstream=True)
    entry_id = operator.xadd(Stream.CASES, {"type": "test.poison"}).decode()
    operator.close()
    url = with_credentials(local.address, Service.STATS, passwords[Service.STATS])
    stats = redis_connect.connect(url, cluster=True)
    admin = redis_connect.connect(local.url, cluster=True)
    try:
        read = await stats.xreadgroup("safereturn.stats", "stats-1", {Stream.CASES: ">"})
        fields = read[0][1][0][1]
        failure = Failure(stream=Stream.CASES, entry_id=entry_id, group="safereturn.stats",
                          consumer="stats-1", deliveries=5, error_type="ValueError",
                          reason="ValueError: poison")  # fmt: skip
        await deadletter.dead_letter(stats, failure, fields)
        assert (await stats.xpending(Stream.CASES, "safereturn.stats"))["pending"] == 0
        letters = await deadletter.list_dead_letters(admin)  # scans every primary
        assert [letter.fields["type"] for letter in letters] == ["test.poison"]
    finally:
        await stats.aclose()
        await admin.aclose()
