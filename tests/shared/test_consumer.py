"""Consuming on real Redis and a real database: exactly once in effect, whatever happens."""

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import insert

from shared.db import Database, inbox
from shared.events.envelope import from_fields, to_fields
from shared.events.registry import Event
from shared.names import Stream, consumer_group, dead_letter_stream
from shared.outbox import UnitOfWork
from shared.streams import read_range
from tests.conftest import PlatformFactory
from tests.support import Behaviour, Ticked, effect_counts, effects, eventually, now, registry

GROUP = consumer_group("tests")


def ticked_fields(n: int, *, event_id: str | None = None) -> dict[str, str]:
    envelope = registry.envelope(
        Ticked(n=n),
        event_id=event_id or f"evt-{n}",
        source="/safereturn/producer",
        subject=f"case-{n}",
        time=now(),
    )
    return to_fields(envelope)


async def publish(redis: Redis, *numbers: int) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for n in numbers:
            pipe.xadd(Stream.CASES, ticked_fields(n))
        await pipe.execute()


async def pending(redis: Redis) -> int:
    summary = await redis.xpending(Stream.CASES, GROUP)
    return int(summary["pending"])


async def test_each_event_is_applied_once(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    await start_platform(Behaviour())
    await publish(redis, *range(1, 301))

    async def all_applied() -> bool:
        return len(await effect_counts(database.sessions)) == 300

    assert await eventually(all_applied)
    assert set((await effect_counts(database.sessions)).values()) == {1}
    assert await eventually(lambda: _no_pending(redis))


async def _no_pending(redis: Redis) -> bool:
    return await pending(redis) == 0


async def test_a_redelivered_event_has_no_second_effect(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    await start_platform(Behaviour())
    duplicate = ticked_fields(7, event_id="same-id")
    await redis.xadd(Stream.CASES, duplicate)
    await redis.xadd(Stream.CASES, duplicate)  # e.g. a relay that died before marking it sent
    await publish(redis, 8)

    async def both_seen() -> bool:
        return 8 in await effect_counts(database.sessions) and await pending(redis) == 0

    assert await eventually(both_seen)
    assert await effect_counts(database.sessions) == {7: 1, 8: 1}


async def test_a_handler_crash_before_commit_is_reclaimed_and_applied_once(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    behaviour = Behaviour(failures_left={2: 1})
    await start_platform(behaviour)
    await publish(redis, 1, 2, 3)

    async def all_applied() -> bool:
        return len(await effect_counts(database.sessions)) == 3 and await pending(redis) == 0

    assert await eventually(all_applied)
    assert await effect_counts(database.sessions) == {1: 1, 2: 1, 3: 1}
    assert behaviour.attempts[2] >= 2  # the crashed attempt's effect was rolled back


async def test_entries_of_a_consumer_that_died_are_reclaimed(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    await redis.xgroup_create(Stream.CASES, GROUP, id="0", mkstream=True)
    await publish(redis, 1, 2)
    # A consumer read both entries and died before acknowledging them.
    await redis.xreadgroup(GROUP, "tests@gone-1", {Stream.CASES: ">"}, count=10)
    assert await pending(redis) == 2

    await start_platform(Behaviour())

    async def reclaimed() -> bool:
        return len(await effect_counts(database.sessions)) == 2 and await pending(redis) == 0

    assert await eventually(reclaimed)
    assert await effect_counts(database.sessions) == {1: 1, 2: 1}


async def test_a_poison_entry_is_dead_lettered_after_n_deliveries_and_others_flow(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    behaviour = Behaviour(poison={2})
    await start_platform(behaviour, max_deliveries=3)
    await publish(redis, 1, 2, 3)
    dlq = dead_letter_stream(Stream.CASES)

    async def dead_lettered() -> bool:
        return await redis.xlen(dlq) == 1 and await pending(redis) == 0

    assert await eventually(dead_lettered)
    assert await effect_counts(database.sessions) == {1: 1, 3: 1}
    attempts = behaviour.attempts[2]
    assert 3 <= attempts <= 4  # three deliveries; the first also ran inside the failed batch
    await asyncio.sleep(1.0)  # several reclaim intervals
    assert behaviour.attempts[2] == attempts, "a dead letter must not be retried"
    (letter,) = await read_range(redis, dlq)
    fields = letter.text()
    assert fields["id"] == "evt-2"
    assert fields["dead_letter_stream"] == Stream.CASES
    assert fields["dead_letter_group"] == GROUP
    assert fields["dead_letter_deliveries"] == "3"
    assert fields["dead_letter_error_type"] == "HandlerCrashed"
    assert "event 2 is poison" in fields["dead_letter_reason"]
    original_ids = [entry.id for entry in await read_range(redis, Stream.CASES)]
    assert fields["dead_letter_entry_id"] in original_ids


async def test_an_entry_that_is_not_a_cloudevent_is_dead_lettered(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    await start_platform(Behaviour(), max_deliveries=2)
    await redis.xadd(Stream.CASES, {"hello": "world"})
    await redis.xadd(Stream.CASES, {**ticked_fields(5), "data": '{"n": "five"}'})
    await publish(redis, 6)
    dlq = dead_letter_stream(Stream.CASES)

    async def dead_lettered() -> bool:
        return await redis.xlen(dlq) == 2 and await pending(redis) == 0

    assert await eventually(dead_lettered)
    reasons = sorted(
        entry.text()["dead_letter_error_type"] for entry in await read_range(redis, dlq)
    )
    assert reasons == ["EnvelopeError", "PayloadError"]
    payload_letter = next(
        e.text()
        for e in await read_range(redis, dlq)
        if e.text()["dead_letter_error_type"] == "PayloadError"
    )
    assert "n:" in payload_letter["dead_letter_reason"]
    assert "five" not in payload_letter["dead_letter_reason"]  # names the field, not the value
    assert await effect_counts(database.sessions) == {6: 1}


async def test_a_group_created_after_events_were_published_still_receives_them(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    await publish(redis, 1, 2, 3)
    assert await redis.exists(Stream.CASES)
    await start_platform(Behaviour())

    async def received() -> bool:
        return len(await effect_counts(database.sessions)) == 3

    assert await eventually(received)


async def test_other_event_types_on_the_stream_are_acknowledged_without_effect(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    await start_platform(Behaviour())
    other = {**ticked_fields(1), "type": "case.something_else", "id": "other-1"}
    await redis.xadd(Stream.CASES, other)
    await publish(redis, 2)

    async def done() -> bool:
        return 2 in await effect_counts(database.sessions) and await pending(redis) == 0

    assert await eventually(done)
    assert await effect_counts(database.sessions) == {2: 1}


async def test_consumers_that_left_with_nothing_pending_are_removed(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    await redis.xgroup_create(Stream.CASES, GROUP, id="0", mkstream=True)
    await redis.xgroup_createconsumer(Stream.CASES, GROUP, "tests@gone-2")
    platform = await start_platform(Behaviour(), stale_consumer_idle_ms=1)
    await publish(redis, 1)

    async def removed() -> bool:
        names = {c["name"].decode() for c in await redis.xinfo_consumers(Stream.CASES, GROUP)}
        return names == {platform.instance} and 1 in await effect_counts(database.sessions)

    assert await eventually(removed)


@pytest.mark.parametrize("batch_size", [1, 50])
async def test_events_emitted_by_a_handler_leave_through_the_outbox(
    redis: Redis, database: Database, start_platform: PlatformFactory, batch_size: int
) -> None:
    await start_platform(Behaviour(echo=True), batch_size=batch_size)
    await publish(redis, *range(1, 21))

    async def echoed() -> bool:
        return await redis.xlen(Stream.PLATFORM) == 20

    assert await eventually(echoed)
    echoes = await read_range(redis, Stream.PLATFORM)
    assert sorted(registry.decode(from_fields(e.fields or {})).payload.n for e in echoes) == list(
        range(1, 21)
    )


async def test_an_entry_that_is_not_utf8_is_dead_lettered_without_holding_back_others(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    await start_platform(Behaviour(), max_deliveries=2)
    await redis.xadd(Stream.CASES, {**ticked_fields(1), "data": b"\xff\xfe{"})
    await publish(redis, 2)
    dlq = dead_letter_stream(Stream.CASES)

    async def settled() -> bool:
        return await redis.xlen(dlq) == 1 and await pending(redis) == 0

    assert await eventually(settled)
    assert await effect_counts(database.sessions) == {2: 1}


async def test_an_entry_deleted_while_pending_is_let_go(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    await redis.xgroup_create(Stream.CASES, GROUP, id="0", mkstream=True)
    await publish(redis, 1, 2)
    [(_, [(first, _), _])] = await redis.xreadgroup(GROUP, "tests@gone-3", {Stream.CASES: ">"})
    await redis.xdel(Stream.CASES, first)
    await start_platform(Behaviour())

    async def settled() -> bool:
        return await pending(redis) == 0 and await effect_counts(database.sessions) == {2: 1}

    assert await eventually(settled)


class LosesTheRace(Behaviour):
    """Another replica applies event 5 (effect and inbox row, committed) while this one is
    still applying it: this one's commit then fails on the inbox's key."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database

    async def handle(self, uow: UnitOfWork, event: Event[Any]) -> None:
        if event.payload.n == 5 and not self.attempts.get(5):
            async with self.database.transaction() as session:
                await session.execute(insert(effects).values(event_id=event.id, n=5))
                await session.execute(insert(inbox).values(
                    source=event.source, event_id=event.id, event_type=event.type,
                    stream=Stream.CASES, processed_at=now(),
                ))  # fmt: skip
        await super().handle(uow, event)


@pytest.mark.postgres
async def test_an_entry_another_replica_applied_meanwhile_is_not_a_failure(
    redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    if database.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers: two replicas cannot commit the same entry at once")
    await start_platform(LosesTheRace(database), max_deliveries=1)
    await publish(redis, 5)

    async def settled() -> bool:
        return await pending(redis) == 0

    assert await eventually(settled)
    assert await effect_counts(database.sessions) == {5: 1}
    assert await redis.xlen(dead_letter_stream(Stream.CASES)) == 0
