"""Read your writes: a request waiting for its event wakes when this process commits it, finds
one another replica committed at the next lookup, and costs the database nothing while it
waits — however many requests wait, and however many batches commit meanwhile."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event

from services.stats import store
from services.stats.arrivals import Arrivals
from shared.db import Database
from tests.services.stats.deliveries import Open, archive_row, received, sent
from tests.support import eventually

NEVER = 600.0  # seconds: no lookup for other replicas' events within a test


async def archive(database: Database, *event_ids: str) -> None:
    """Events archived in one transaction, as another replica would: this process is not told."""
    async with database.transaction() as session:
        for event_id in event_ids:
            assert await store.archived(session, archive_row(sent(received("case-0"), event_id)))


async def until(condition: Callable[[], bool]) -> None:
    async def holds() -> bool:
        return condition()

    assert await eventually(holds, within=30, interval=0.01)


@asynccontextmanager
async def arrivals_of(database: Database, others_s: float) -> AsyncIterator[Arrivals]:
    """Arrivals with its worker running, as stats' process runs it."""
    arrivals = Arrivals()
    arrivals.OTHERS_S = others_s
    worker = asyncio.create_task(arrivals.looking(database))
    try:
        yield arrivals
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


@asynccontextmanager
async def looked_up(database: Database) -> AsyncIterator[list[Sequence[Any]]]:
    """The event ids each lookup in the archive asked for while the block ran."""
    seen: list[Sequence[Any]] = []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Sequence[Any], *_: Any) -> None:
        if "FROM archive" in statement:
            seen.append(parameters)

    engine = database.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_a_waiting_request_wakes_when_this_process_commits_its_event(
    open_database: Open,
) -> None:
    database = await open_database()
    async with arrivals_of(database, NEVER) as arrivals:
        waiting = asyncio.create_task(arrivals.reflected(database, "e-1", NEVER))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        arrivals.landed(["e-1"])
        assert await asyncio.wait_for(waiting, timeout=30)


async def test_an_event_another_replica_commits_is_found_by_the_next_lookup(
    open_database: Open,
) -> None:
    database = await open_database()
    async with arrivals_of(database, 0.01) as arrivals:
        waiting = asyncio.create_task(arrivals.reflected(database, "e-1", NEVER))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await archive(database, "e-1")
        assert await asyncio.wait_for(waiting, timeout=30)


async def test_an_event_already_archived_answers_at_once_and_a_missing_one_gives_up(
    open_database: Open,
) -> None:
    database = await open_database()
    async with arrivals_of(database, 0.01) as arrivals:
        await archive(database, "e-1")
        assert await arrivals.reflected(database, "e-1", NEVER)
        assert not await arrivals.reflected(database, "e-2", 0.1)
        assert not arrivals._waiting  # nothing left behind by either


async def test_waiting_requests_cost_one_lookup_each_however_many_batches_commit(
    open_database: Open,
) -> None:
    database = await open_database()
    ids = [f"e-{n}" for n in range(50)]
    async with arrivals_of(database, NEVER) as arrivals, looked_up(database) as seen:
        waiting = [asyncio.create_task(arrivals.reflected(database, i, NEVER)) for i in ids]
        await until(lambda: len(seen) == len(ids))  # each looked once, as it began
        for batch in range(5):  # batches of other events commit here: no waiter looks again
            arrivals.landed([f"other-{batch}"])
            await asyncio.sleep(0.05)
        arrivals.landed(ids)
        assert all(await asyncio.gather(*waiting))
    assert len(seen) == len(ids)


async def test_other_replicas_events_are_looked_up_for_every_waiter_at_once(
    open_database: Open,
) -> None:
    database = await open_database()
    ids = [f"e-{n}" for n in range(50)]
    async with arrivals_of(database, 0.05) as arrivals, looked_up(database) as seen:
        waiting = [asyncio.create_task(arrivals.reflected(database, i, NEVER)) for i in ids]
        await until(lambda: len(seen) > len(ids))  # each looked as it began; then a round
        await archive(database, *ids)
        assert all(await asyncio.wait_for(asyncio.gather(*waiting), timeout=30))
    assert sorted(len(asked) for asked in seen) == [1] * len(ids) + [len(ids)] * (
        len(seen) - len(ids)
    )
