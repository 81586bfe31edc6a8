"""The case stream split N ways by case id: a case's events always go to one partition, in
the order they were committed; every partition is used; unsplit, nothing changes."""

import random

from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from shared.db import Database
from shared.events.envelope import from_fields
from shared.names import Stream, case_partition, case_partitions, physical_streams
from shared.outbox import OutboxRelay, UnitOfWork
from shared.redis_acl import PARTITIONED
from tests.support import Ticked, now, registry


@given(st.uuids().map(str), st.integers(min_value=1, max_value=64))
def test_a_case_always_goes_to_the_same_partition_of_those_there_are(
    case_id: str, count: int
) -> None:
    partition = case_partition(case_id, count)
    assert partition == case_partition(case_id, count)
    assert partition in case_partitions(count)
    assert len(set(case_partitions(count))) == count  # each its own key, and its own hash tag
    assert len({p[p.index("{") : p.index("}")] for p in case_partitions(count)}) == count


def test_unsplit_the_case_stream_is_one_stream_as_before() -> None:
    assert case_partitions(1) == [Stream.CASES]
    assert case_partition("any-case", 1) == Stream.CASES
    assert physical_streams(Stream.ACTIVITIES, 4) == [Stream.ACTIVITIES]
    assert physical_streams(Stream.CASES, 4) == case_partitions(4)


def test_every_partition_gets_cases() -> None:
    ids = [f"01a23b10-{n:04x}-7000-8000-000000000000" for n in range(400)]
    assert {case_partition(case_id, 4) for case_id in ids} == set(case_partitions(4))


def test_an_acl_right_on_the_case_stream_covers_its_partitions() -> None:
    assert PARTITIONED[str(Stream.CASES)] == "safereturn:{cases-*}"
    assert all(p == Stream.CASES or p.startswith("safereturn:{cases-") for p in case_partitions(5))


async def test_each_cases_events_land_on_its_partition_in_commit_order(
    redis: Redis, database: Database
) -> None:
    rng = random.Random(7)
    cases = [f"case-{n}" for n in range(30)]
    committed: dict[str, list[int]] = {case: [] for case in cases}
    for batch in range(20):  # transactions of mixed cases, committed one after another
        async with database.transaction() as session:
            uow = UnitOfWork(session, source="/safereturn/tests", registry=registry,
                             case_partitions=4)  # fmt: skip
            for step in range(rng.randint(1, 8)):
                case, n = rng.choice(cases), batch * 100 + step
                await uow.emit(Ticked(n=n), subject=case, time=now())
                committed[case].append(n)
    relay = OutboxRelay(database, redis, batch_size=17, poll_interval=0.05)
    while await relay.publish_batch():
        pass
    found: dict[str, list[int]] = {case: [] for case in cases}
    where: dict[str, set[str]] = {case: set() for case in cases}
    for partition in case_partitions(4):
        for _, fields in await redis.xrange(partition):
            event = registry.decode(from_fields(fields))
            found[str(event.subject)].append(event.payload.n)
            where[str(event.subject)].add(partition)
    assert found == committed  # every event, each case's in the order committed
    assert all(where[case] == {case_partition(case, 4)} for case in cases if committed[case])
    assert len(set().union(*where.values())) > 1  # the cases spread over the partitions
