"""The outbox on real Redis and a real database: committed events leave, rolled-back ones don't."""

import asyncio

import pytest
from redis.asyncio import Redis
from sqlalchemy import insert

from shared.db import Database
from shared.events.envelope import from_fields
from shared.names import Stream
from shared.outbox import OutboxRelay, UnitOfWork
from shared.streams import read_range
from tests.conftest import PlatformFactory
from tests.support import Behaviour, Ticked, effect_counts, effects, eventually, now, registry


class RelayDied(Exception):
    pass


def relay(database: Database, redis: Redis) -> OutboxRelay:
    return OutboxRelay(database, redis, batch_size=100, poll_interval=0.05)


async def emit(database: Database, *numbers: int, fail: bool = False) -> None:
    async with database.transaction() as session:
        uow = UnitOfWork(session, source="/safereturn/tests", registry=registry)
        for n in numbers:
            await session.execute(insert(effects).values(event_id=f"state-{n}", n=n))
            await uow.emit(Ticked(n=n), subject=f"case-{n}", time=now())
        if fail:
            raise RuntimeError("the change failed after emitting")


async def published_numbers(redis: Redis) -> list[int]:
    entries = await read_range(redis, Stream.CASES)
    return [registry.decode(from_fields(e.fields or {})).payload.n for e in entries]


async def test_a_committed_change_publishes_every_event(redis: Redis, database: Database) -> None:
    await emit(database, 1, 2, 3)
    assert await relay(database, redis).publish_batch() == 3
    assert await published_numbers(redis) == [1, 2, 3]
    assert await relay(database, redis).backlog() == 0
    assert await relay(database, redis).oldest_waiting_s() == 0
    assert await relay(database, redis).publish_batch() == 0


async def test_a_rolled_back_change_publishes_nothing(redis: Redis, database: Database) -> None:
    with pytest.raises(RuntimeError):
        await emit(database, 1, 2, fail=True)
    await emit(database, 3)
    assert await relay(database, redis).publish_batch() == 1
    assert await published_numbers(redis) == [3]
    assert await effect_counts(database.sessions) == {3: 1}


async def test_a_relay_killed_between_publish_and_mark_publishes_again(
    redis: Redis, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await emit(database, 1, 2)
    dying = relay(database, redis)
    monkeypatch.setattr(dying, "_mark_published", _die)
    with pytest.raises(RelayDied):
        await dying.publish_batch()
    assert await published_numbers(redis) == [1, 2]
    assert await relay(database, redis).backlog() == 2  # nothing was marked sent
    assert 0 < await relay(database, redis).oldest_waiting_s() < 60

    assert await relay(database, redis).publish_batch() == 2
    entries = await read_range(redis, Stream.CASES)
    ids = [from_fields(e.fields or {}).get_id() for e in entries]
    assert len(ids) == 4
    assert ids[:2] == ids[2:]  # the same CloudEvents ids: consumers drop the repeats


async def test_after_a_relay_died_consumers_apply_each_event_once(
    redis: Redis,
    database: Database,
    start_platform: PlatformFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await emit(database, 1, 2)  # one effect row each from the producing change
    dying = relay(database, redis)
    monkeypatch.setattr(dying, "_mark_published", _die)
    with pytest.raises(RelayDied):
        await dying.publish_batch()

    await start_platform(Behaviour())  # its relay publishes both rows again; it consumes all 4

    async def applied() -> bool:
        consumed = (
            await redis.xlen(Stream.CASES) == 4 and await relay(database, redis).backlog() == 0
        )
        return consumed and await effect_counts(database.sessions) == {1: 2, 2: 2}

    assert await eventually(applied)
    await asyncio.sleep(1.0)  # give a second effect every chance to appear
    assert await effect_counts(database.sessions) == {1: 2, 2: 2}


async def _die(*_: object) -> None:
    raise RelayDied


async def test_the_relay_in_a_running_service_publishes_soon_after_commit(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    platform = await start_platform(Behaviour())
    async with platform.unit_of_work() as uow:
        await uow.emit(Ticked(n=9), subject="case-9", time=now())

    async def published() -> bool:
        return await redis.xlen(Stream.CASES) == 1

    assert await eventually(published)
