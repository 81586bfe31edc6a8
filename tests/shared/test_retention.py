"""Retention on real Redis: trimmed below every group's acknowledgement, never an unread or
unacknowledged entry; dead letters and rejections by age; deleted personal data leaves the AOF."""

import asyncio
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY, generate_latest
from redis.asyncio import Redis

from shared.names import (
    AOF_REWRITE_MARK,
    AOF_REWRITE_THROTTLE,
    ARCHIVED_STREAMS,
    ARCHIVIST,
    RETENTION_LEASE,
    Stream,
    consumer_group,
    dead_letter_stream,
)
from shared.retention import Retention, parse_id, trim_acknowledged
from shared.settings import ServiceSettings
from tests.conftest import PlatformFactory
from tests.shared.test_consumer import publish
from tests.support import Behaviour, eventually

STREAM = "safereturn:{retention-test}"

# For each group: how many entries it has read, and which of those it acknowledged.
GroupState = tuple[int, list[bool]]


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, list[GroupState]]:
    length = draw(st.integers(1, 25))
    groups = []
    for _ in range(draw(st.integers(1, 3))):
        read = draw(st.integers(0, length))
        groups.append((read, draw(st.lists(st.booleans(), min_size=read, max_size=read))))
    return length, groups


async def _trim_after(redis_url: str, length: int, groups: list[GroupState]) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await redis.delete(STREAM)
        ids = [(await redis.xadd(STREAM, {"n": str(n)})).decode() for n in range(length)]
        unsafe: set[str] = set()  # entries some group has not read, or not acknowledged
        for index, (read, acked) in enumerate(groups):
            group = f"g{index}"
            await redis.xgroup_create(STREAM, group, id="0")
            if read:
                await redis.xreadgroup(group, "c", {STREAM: ">"}, count=read)
            done = [ids[i] for i in range(read) if acked[i]]
            if done:
                await redis.xack(STREAM, group, *done)
            unsafe |= {ids[i] for i in range(read) if not acked[i]} | set(ids[read:])

        await trim_acknowledged(redis, STREAM)

        left = {entry_id.decode() for entry_id, _ in await redis.xrange(STREAM)}
        assert unsafe <= left, "an entry a group had not read or acknowledged was trimmed"
        # below the first such entry of any group, every entry was acknowledged by all: gone
        first_unsafe = min(map(parse_id, unsafe), default=None)
        assert left == {e for e in ids if first_unsafe and parse_id(e) >= first_unsafe}
    finally:
        await redis.delete(STREAM)
        await redis.aclose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories())
def test_a_stream_is_trimmed_exactly_below_what_every_group_acknowledged(
    redis_url: str, history: tuple[int, list[GroupState]]
) -> None:
    length, groups = history
    asyncio.run(_trim_after(redis_url, length, groups))


async def test_an_archived_stream_is_not_trimmed_while_stats_has_no_group(redis: Redis) -> None:
    await publish(redis, 1, 2, 3)
    await redis.xgroup_create(Stream.CASES, "safereturn.verification", id="$")  # read all
    archivist = consumer_group(ARCHIVIST)

    assert await trim_acknowledged(redis, Stream.CASES, required_group=archivist) == 0
    assert await redis.xlen(Stream.CASES) == 3

    await redis.xgroup_create(Stream.CASES, archivist, id="$")  # stats has archived them all
    assert await trim_acknowledged(redis, Stream.CASES, required_group=archivist) == 3
    assert await redis.xlen(Stream.CASES) == 0


async def test_acknowledged_entries_younger_than_the_keep_window_stay(redis: Redis) -> None:
    await publish(redis, 1, 2, 3)
    await redis.xgroup_create(Stream.CASES, "g", id="$")  # read and acknowledged all
    assert await trim_acknowledged(redis, Stream.CASES, keep_s=3600) == 0
    assert await trim_acknowledged(redis, Stream.CASES, keep_s=0) == 3


def retention(redis: Redis, **overrides: object) -> Retention:
    values: dict[str, object] = {"stream_keep_acknowledged_s": 0, "retention_interval_s": 60}
    settings = ServiceSettings.model_validate(values | overrides)
    return Retention.of_platform(redis, "tests@here", settings)


async def test_dead_letters_and_rejections_are_kept_for_their_retention_only(
    redis: Redis,
) -> None:
    now_ms = int(time.time() * 1000)
    day_ms = 86_400_000
    dead_letters, rejected = dead_letter_stream(Stream.CASES), Stream.SUBMISSIONS_REJECTED
    for stream in (dead_letters, rejected):
        await redis.xadd(stream, {"age": "old"}, id=f"{now_ms - 3 * day_ms}-0")
        await redis.xadd(stream, {"age": "new"}, id=f"{now_ms - day_ms // 2}-0")

    trimmed = await retention(
        redis, dead_letter_retention_s=2 * 86_400, rejected_retention_s=86_400
    ).run()

    assert trimmed is not None
    assert (trimmed[dead_letters], trimmed[rejected]) == (1, 1)
    for stream in (dead_letters, rejected):
        assert [fields[b"age"] for _, fields in await redis.xrange(stream)] == [b"new"]


async def test_one_replica_applies_retention_per_interval(redis: Redis) -> None:
    assert await retention(redis).run() is not None
    assert await retention(redis).run() is None, "another replica holds the lease"
    assert await redis.pttl(RETENTION_LEASE) > 50_000


async def test_a_running_service_trims_what_it_and_stats_consumed(
    redis: Redis, start_platform: PlatformFactory
) -> None:
    await redis.xgroup_create(Stream.CASES, consumer_group(ARCHIVIST), id="$", mkstream=True)
    await start_platform(
        Behaviour(), stream_keep_acknowledged_s=0, retention_interval_s=0.2, retention_enabled=True
    )  # the retention service (intake in the platform)
    await publish(redis, *range(1, 21))
    await redis.xgroup_setid(Stream.CASES, consumer_group(ARCHIVIST), id="$")  # stats is done

    def counted() -> list[float]:
        exported = generate_latest(REGISTRY).decode().splitlines()
        return [float(line.rsplit(" ", 1)[1]) for line in exported
                if line.startswith("safereturn_stream_entries_trimmed")
                and f'stream="{Stream.CASES}"' in line]  # fmt: skip

    async def trimmed() -> bool:  # the counter is bumped once the whole pass is over
        return await redis.xlen(Stream.CASES) == 0 and counted() == [20]

    assert await eventually(trimmed, within=30), (await redis.xlen(Stream.CASES), counted())


SAMPLE_NAME = "Lò Thị Mai"


async def _aof_text(redis: Redis) -> str:
    config = await redis.config_get("dir")
    directory = Path(config["dir"]) / (await redis.config_get("appenddirname"))["appenddirname"]
    return "".join(path.read_bytes().decode(errors="replace") for path in directory.iterdir())


async def test_deleted_personal_data_leaves_the_append_only_file(redis: Redis) -> None:
    submission = {"type": "report.submitted", "data": f'{{"full_name": "{SAMPLE_NAME}"}}'}
    entry_id = await redis.xadd(Stream.SUBMISSIONS, submission)
    await redis.xdel(Stream.SUBMISSIONS, entry_id)  # as intake does once it has sealed it
    await _rewrite_finished(redis)
    assert SAMPLE_NAME in await _aof_text(redis), "the AOF still holds the deleted entry"

    assert await retention(redis, aof_rewrite_interval_s=3600).rewrite_aof_after_deletions()
    await _rewrite_finished(redis)

    assert SAMPLE_NAME not in await _aof_text(redis)
    assert await redis.hexists(AOF_REWRITE_MARK, Stream.SUBMISSIONS)
    assert not await retention(redis).rewrite_aof_after_deletions(), "nothing deleted since"


async def test_aof_rewrites_after_deletions_are_bounded_in_frequency(redis: Redis) -> None:
    await redis.xdel(Stream.SUBMISSIONS, await redis.xadd(Stream.SUBMISSIONS, {"data": "1"}))
    assert await retention(redis).rewrite_aof_after_deletions()
    await _rewrite_finished(redis)
    await redis.xdel(Stream.SUBMISSIONS, await redis.xadd(Stream.SUBMISSIONS, {"data": "2"}))
    assert not await retention(redis).rewrite_aof_after_deletions()
    assert await redis.pttl(AOF_REWRITE_THROTTLE) > 3_000_000


async def _rewrite_finished(redis: Redis) -> None:
    async def finished() -> bool:
        info = await redis.info("persistence")
        return not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]

    assert await eventually(finished, within=30)


def test_the_streams_stats_archives_are_those_retention_waits_for() -> None:
    from services.stats.handlers import ARCHIVED  # noqa: PLC0415 - one service's constant

    assert set(ARCHIVED) == set(ARCHIVED_STREAMS)
