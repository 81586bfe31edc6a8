"""Losing Redis data, a dead task or a failing periodic job is noticed, reported and survived."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from shared.db import Database
from shared.http import install_problem_handlers
from shared.names import Stream, consumer_group
from shared.runtime import Platform
from shared.webapp import operations
from tests.conftest import PlatformFactory
from tests.shared.test_consumer import publish
from tests.support import Behaviour, effect_counts, eventually


async def ready(platform: Platform) -> tuple[int, dict[str, Any]]:
    """Ask ``/ready`` over HTTP, as a probe would."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(operations)
    app.state.platform = platform
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/ready")
    body: dict[str, Any] = answer.json()
    return answer.status_code, body


async def applied(database: Database, numbers: range) -> bool:
    return set(numbers) <= set(await effect_counts(database.sessions))


async def test_after_redis_lost_its_data_the_group_comes_back_and_events_flow(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    await start_platform(Behaviour())
    await publish(redis, *range(1, 6))
    assert await eventually(lambda: applied(database, range(1, 6)))

    await redis.flushall()  # Redis restarted without its data
    await publish(redis, *range(6, 11))  # a producer recreates the stream, with no group

    assert await eventually(lambda: applied(database, range(6, 11)), within=30)
    groups = [group["name"].decode() for group in await redis.xinfo_groups(Stream.CASES)]
    assert groups == [consumer_group("tests")]
    assert await effect_counts(database.sessions) == dict.fromkeys(range(1, 11), 1)


async def test_ready_is_503_naming_a_consumer_stopped_by_lost_redis_data(
    redis: Redis, start_platform: PlatformFactory
) -> None:
    platform = await start_platform(Behaviour(), maintenance_interval_s=3600)
    assert (await ready(platform))[0] == 200

    await redis.flushall()  # the subscribers meet NOGROUP and stop

    async def reported() -> bool:
        status, body = await ready(platform)
        return status == 503 and f"consumer:{Stream.CASES}" in body.get("checks", {})

    assert await eventually(reported)
    assert (await ready(platform))[1]["title"] == "Not ready"


async def test_ready_is_503_naming_a_crashed_worker_until_it_is_restarted(
    start_platform: PlatformFactory,
) -> None:
    crash = asyncio.Event()
    runs = 0

    async def deliver(_: Platform) -> None:
        nonlocal runs
        runs += 1
        await crash.wait()
        crash.clear()
        raise RuntimeError("the worker crashed")

    platform = await start_platform(Behaviour(), workers=[deliver])
    platform.supervisor.first_backoff = 1.0
    assert await eventually(lambda: _ready(platform))

    crash.set()

    async def reported() -> bool:
        status, body = await ready(platform)
        return status == 503 and "worker:deliver" in body.get("checks", {})

    assert await eventually(reported, within=5)
    assert await eventually(lambda: _ready(platform), within=10), "restarted after its backoff"
    assert runs == 2


async def _ready(platform: Platform) -> bool:
    return (await ready(platform))[0] == 200


@pytest.mark.parametrize("task", ["relay", "maintenance:consumers", "maintenance:outbox"])
async def test_ready_is_503_naming_a_dead_background_task(
    task: str, start_platform: PlatformFactory
) -> None:
    platform = await start_platform(Behaviour())
    assert await _ready(platform)

    platform.supervisor.tasks[task].cancel()

    async def reported() -> bool:
        status, body = await ready(platform)
        return status == 503 and body.get("checks", {}).get(task) == "stopped"

    assert await eventually(reported, within=5)


@pytest.fixture
async def redis_url_without_xinfo(redis: Redis, redis_url: str) -> AsyncIterator[str]:
    """A Redis user that may consume but not run XINFO: consumer maintenance fails each time."""
    user, password = f"noxinfo-{secrets.token_hex(4)}", secrets.token_hex(16)
    await redis.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["~*"], channels=["&*"],
        commands=["+@all", "-xinfo"],
    )  # fmt: skip
    yield f"redis://{user}:{password}@{redis_url.split('://', 1)[1]}"
    await redis.acl_deluser(user)


async def test_a_failing_periodic_job_leaves_the_others_running(
    redis: Redis, redis_url_without_xinfo: str, start_platform: PlatformFactory
) -> None:
    housekeeping_runs = 0

    async def housekeeping(_: Platform) -> None:
        nonlocal housekeeping_runs
        housekeeping_runs += 1

    platform = await start_platform(
        Behaviour(), housekeeping=housekeeping, redis_url=redis_url_without_xinfo
    )
    after_start = housekeeping_runs
    await asyncio.sleep(1.5)  # consumer maintenance fails every 0.2 s meanwhile

    assert housekeeping_runs >= after_start + 3, "the deadline timers kept firing"
    assert platform.supervisor.problems() == {}


async def test_a_failing_housekeeping_does_not_stop_consumer_maintenance(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    calls = 0

    async def failing_after_start(_: Platform) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:  # the first run, at start, must succeed for the service to start
            raise RuntimeError("the revocation sync failed")

    await start_platform(Behaviour(), housekeeping=failing_after_start)
    await redis.flushall()
    await publish(redis, 1)
    assert await eventually(lambda: applied(database, range(1, 2)), within=30)

    async def failed_again() -> bool:
        return calls > 2

    assert await eventually(failed_again), "it keeps failing, and keeps being retried"
