"""An outbox row is marked published only once Redis has its entry on disk.

A SIGKILL of redis-server alone loses nothing the kernel already has, so a crash test could not
fail today; what can fail is what these tests check: the Redis we run fsyncs before it answers,
and the relay leaves rows unpublished whenever Redis cannot say the same.
"""

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.db import Database
from shared.durability import Durability, Mode, NotDurable
from shared.names import Stream
from shared.outbox import OutboxRelay
from shared.redis_server import RedisServer, find_redis_server, free_port
from tests.shared.test_outbox import emit, published_numbers


def relay(database: Database, redis: Redis, **durability: bool) -> OutboxRelay:
    durable = Durability(redis, **durability)
    return OutboxRelay(database, redis, batch_size=100, poll_interval=0.05, durability=durable)


async def test_the_embedded_redis_fsyncs_every_write_before_it_answers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", free_port(), find_redis_server())
    server.start()
    client = Redis.from_url(server.url)
    try:
        config = await client.config_get("*")
    finally:
        await client.aclose()
        server.stop()
    assert (config["appendonly"], config["appendfsync"]) == ("yes", "always")
    assert config["maxmemory-policy"] == "noeviction", "an evicted stream is a lost event"
    assert config["aof-use-rdb-preamble"] == "no", "an RDB preamble keeps XDEL'd entries"


@pytest.fixture
async def fsync(redis: Redis) -> AsyncIterator[Redis]:
    """The test Redis; its appendfsync is put back however a test changes it."""
    before = (await redis.config_get("appendfsync"))["appendfsync"]
    yield redis
    await redis.config_set("appendfsync", before)


async def test_rows_stay_unpublished_while_redis_fsyncs_only_every_second(
    fsync: Redis, database: Database
) -> None:
    if await Durability(fsync).detect() is Mode.WAITAOF:
        pytest.skip("this Redis confirms with WAITAOF; appendfsync is not what the relay checks")
    await fsync.config_set("appendfsync", "everysec")
    await emit(database, 1, 2)
    publisher = relay(database, fsync)
    with pytest.raises(NotDurable, match="appendfsync everysec"):
        await publisher.publish_batch()
    assert await fsync.xlen(Stream.CASES) == 0, "nothing is sent that Redis could lose"
    assert await publisher.backlog() == 2
    assert publisher.publisher.problem is not None

    await fsync.config_set("appendfsync", "always")
    assert await publisher.publish_batch() == 2
    assert await published_numbers(fsync) == [1, 2]
    assert publisher.publisher.problem is None


@pytest.fixture
async def without_config(redis: Redis, redis_url: str) -> AsyncIterator[Redis]:
    """A client whose ACL user may do anything but CONFIG (as in a locked-down production)."""
    user, password = f"relay-{secrets.token_hex(4)}", secrets.token_hex(16)
    await redis.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["~*"], channels=["&*"],
        commands=["+@all", "-config"],
    )  # fmt: skip
    host_and_port = redis_url.split("://", 1)[1]
    client = Redis.from_url(f"redis://{user}:{password}@{host_and_port}")
    yield client
    await client.aclose()
    await redis.acl_deluser(user)


async def test_without_config_get_rows_are_published_only_when_fsync_is_declared(
    without_config: Redis, database: Database
) -> None:
    if await Durability(without_config).detect() is Mode.WAITAOF:
        pytest.skip("this Redis confirms with WAITAOF, which needs no CONFIG GET")
    await emit(database, 1)
    cautious = relay(database, without_config)
    with pytest.raises(NotDurable, match="redis_fsync_declared"):
        await cautious.publish_batch()
    assert await without_config.xlen(Stream.CASES) == 0
    assert await cautious.backlog() == 1

    assert await relay(database, without_config, fsync_declared=True).publish_batch() == 1


async def test_with_waitaof_rows_stay_unpublished_until_the_aof_has_them(
    fsync: Redis, database: Database
) -> None:
    if await Durability(fsync).detect() is not Mode.WAITAOF:
        version = (await fsync.info("server"))["redis_version"]
        pytest.skip(f"Redis {version} has no WAITAOF (7.2+); the appendfsync path is tested")
    await fsync.config_set("appendonly", "no")
    try:
        await emit(database, 1)
        publisher = relay(database, fsync)
        with pytest.raises(NotDurable, match="WAITAOF"):
            await publisher.publish_batch()
        assert await publisher.backlog() == 1
    finally:
        await fsync.config_set("appendonly", "yes")
    assert await publisher.publish_batch() == 1
