"""Projecting a batch costs what the batch touches, not what history holds: every query it
makes finds its rows through a key or an index. Before the indexes of stats migration 0009,
each batch read the persons (for merges), protections and supports in full, and stats'
consumer slowed as history grew (found loading a million cases, issue 15). Deleting the sums a
batch emptied, by their keys as row values (``(area, day, last, row) IN (VALUES …)``), read
every sum of the history: SQLite does not search an index for a list of row values (found at a
million cases, where it took half of every batch's time)."""

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench import history
from services.stats import store
from shared.db import Database
from tests.services.stats.deliveries import (
    Open,
    consume,
    granted,
    identified,
    merged,
    ordered,
    received,
    sent,
)

HISTORY_TABLES = {table.name for table in (*store.PROJECTIONS, *store.DERIVED, store.archive)}


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements run on ``engine`` meanwhile, with their parameters."""
    found: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        found.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def full_scans(database: Database, ran: list[tuple[str, Any]]) -> set[str]:
    """The history tables SQLite's plan reads in full for any statement that reads rows
    (a DELETE finds its rows as a SELECT would)."""
    scanned = set()
    async with database.reading() as session:
        connection = await session.connection()
        for statement, parameters in ran:
            if not statement.lstrip().upper().startswith(("SELECT", "DELETE", "UPDATE")):
                continue
            one = parameters[0] if isinstance(parameters, list) else parameters  # many rows
            plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", one)
            for row in plan:
                if match := re.match(r"SCAN (\w+)", row[-1]):
                    scanned |= {match.group(1)} & HISTORY_TABLES
    return scanned


async def test_projecting_a_batch_reads_no_history_table_in_full(open_database: Open) -> None:
    database = await open_database()
    if database.engine.dialect.name != "sqlite":
        pytest.skip(
            "the plans read are SQLite's; PostgreSQL's depend on table sizes "
            "(the indexes are the same, and the migrations test checks both)"
        )
    batch = list(history.cases(0, 300, random.Random(7)))
    await consume(database, batch, batch=True)  # a history to find the new batch's rows in
    news = [sent(received("new-1")), sent(identified("new-1", date(2026, 1, 20))),
            sent(granted("new-1", "new-1-g", "health", date(2026, 1, 25))),
            sent(ordered("new-1", "new-1-o", date(2026, 1, 12), 1, 2)),
            sent(received("new-2")), sent(merged("new-2", into="new-1")),
            sent(merged("bench-00000007", into="bench-00000006"))]  # fmt: skip
    with statements(database.engine.sync_engine) as ran:
        await consume(database, news, batch=True)
    assert any("merged_into" in statement for statement, _ in ran)  # the lookups were made
    # a merge takes the merged case's counts away: sums that went down (maybe to zero) are
    # looked up to delete the empty ones
    assert any(statement.startswith("DELETE FROM tallies") for statement, _ in ran)
    assert await full_scans(database, ran) == set()
