"""The platform's own Redis code, run as the user that runs it in production: its grants are
enough (a missing one would raise NOPERM here, or be logged and skipped by retention)."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared import figures
from shared.consumer_groups import DELETE_IF_IDLE_AND_EMPTY
from shared.deadletter import Failure, dead_letter
from shared.durability import Durability
from shared.names import (
    AOF_REWRITE_MARK,
    REVOKED_CLIENTS,
    Service,
    Stream,
    consumer_group,
    dead_letter_stream,
    integrator_stream,
)
from shared.ratelimit import RateLimiter
from shared.retention import Retention
from shared.settings import ServiceSettings, settings_for
from tests.shared.test_redis_acl import REDIS72, Server, pytestmark, server
from tests.shared.test_telemetry import gauges_of, new_metrics

__all__ = ["pytestmark", "server"]  # the ACL server fixture, and its skip below Redis 7


@pytest.fixture
async def as_user(server: Server) -> AsyncIterator[dict[str, Redis]]:
    """A client per user, and the operator's to set the scene."""
    redis_server, passwords = server
    clients = {name: Redis(port=redis_server.port, username=name, password=password)
               for name, password in passwords.items()}  # fmt: skip
    await clients["operator"].flushdb()
    yield clients
    for client in clients.values():
        await client.aclose()


async def test_intake_applies_retention_and_rewrites_the_aof_after_deleting_personal_data(
    as_user: dict[str, Redis],
) -> None:
    operator = as_user["operator"]
    for stream in (Stream.CASES, Stream.SUBMISSIONS):
        entry = await operator.xadd(stream, {"type": "x"})
        # stats' group: trimming a stream stats archives waits for it
        await operator.xgroup_create(stream, consumer_group(Service.STATS), id="$")
    await operator.xdel(Stream.SUBMISSIONS, entry)
    await operator.xadd(dead_letter_stream(Stream.CASES), {"type": "x"})
    await operator.xadd(integrator_stream("ngo-11"), {"type": "x"})  # found by SCAN, by age
    await asyncio.sleep(0.01)
    settings = ServiceSettings.model_validate(
        {"stream_keep_acknowledged_s": 0, "dead_letter_retention_s": 0.001,
         "public_stream_retention_s": 0.001}
    )  # fmt: skip
    trimmed = await Retention.of_platform(as_user[Service.INTAKE], "intake@here", settings).run()
    assert trimmed is not None
    assert trimmed[Stream.CASES] == 1, trimmed
    assert trimmed[dead_letter_stream(Stream.CASES)] == 1
    assert trimmed[integrator_stream("ngo-11")] == 1
    assert await operator.hexists(AOF_REWRITE_MARK, Stream.SUBMISSIONS)  # BGREWRITEAOF ran
    metrics, reader = new_metrics()  # and it may read Redis's memory, for the operators
    await figures.observe_redis(as_user[Service.INTAKE], metrics, holder="intake@here", round_s=1)
    (used,) = gauges_of(reader, "safereturn_redis_memory_used").values()
    assert used > 0


def test_only_intake_applies_retention_by_default() -> None:
    assert {s for s in Service if settings_for(s).applies_retention} == {Service.INTAKE}


@pytest.mark.parametrize("service", list(Service))
async def test_each_service_runs_its_consumer_plumbing(
    as_user: dict[str, Redis], service: Service
) -> None:
    client, group = as_user[service], consumer_group(service)
    await as_user["operator"].xadd(Stream.PLATFORM, {"type": "x"})
    await client.xgroup_create(Stream.PLATFORM, group, id="0")
    read = await client.xreadgroup(group, "c1", {Stream.PLATFORM: ">"}, count=10)
    entry_id = read[0][1][0][0]
    failure = Failure(str(Stream.PLATFORM), entry_id.decode(), group, "c1", 5, "E", "why")
    await dead_letter(client, failure, {b"type": b"x"})  # MULTI: XADD to :dlq, XACK
    assert await client.xpending(Stream.PLATFORM, group) == {
        "pending": 0, "min": None, "max": None, "consumers": []
    }  # fmt: skip
    metrics, reader = new_metrics()  # the stream's and the group's figures, under its lease
    await figures.observe(client, metrics, Stream.PLATFORM, group, holder="c1", round_s=1)
    assert gauges_of(reader, "safereturn_consumer_pending") == {(Stream.PLATFORM, group): 0}
    assert (Stream.PLATFORM,) in gauges_of(reader, "safereturn_stream_dead_letters")
    removed = await client.eval(DELETE_IF_IDLE_AND_EMPTY, 1, Stream.PLATFORM, group, "c1", -1)
    assert removed == 1
    limiter = RateLimiter(client, str(service), limit=1, window_s=60)
    assert (await limiter.hit("client-1")).allowed
    assert not (await limiter.hit("client-1")).allowed  # and takes the refused hit back
    await limiter.forgive("client-1")
    assert (await limiter.hit("client-1")).allowed
    assert isinstance(await client.hkeys(REVOKED_CLIENTS), list)
    durability = Durability(client, fsync_declared=not REDIS72)
    await durability.before_publishing()
    assert durability.problem is None


async def test_notify_publishes_on_the_integrators_streams(as_user: dict[str, Redis]) -> None:
    await as_user[Service.NOTIFY].xadd(integrator_stream("ngo-11"), {"type": "case.received"})
