"""On SQLite, a process's writing transactions take turns in the process instead of in SQLite's
busy handler (which sleeps up to 100 ms at a time while the lock may long be free): with no
busy timeout at all, many concurrent writers all commit; a transaction inside another is
refused at once rather than left waiting forever."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from shared import db
from shared.db import Database

metadata = MetaData()
counts = Table("counts", metadata, Column("n", Integer, nullable=False))


async def test_concurrent_writers_never_meet_a_locked_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 0)  # a writer that waits on SQLite fails
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

        async def write(n: int) -> None:
            async with database.transaction() as session:
                await session.execute(insert(counts).values(n=n))
                await asyncio.sleep(0.01)  # hold the write lock across a pause

        await asyncio.gather(*(write(n) for n in range(40)))
        async with database.reading() as session:
            assert await session.scalar(select(func.count()).select_from(counts)) == 40
    finally:
        await database.dispose()


async def test_a_writing_transaction_inside_another_is_refused(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'nested.db'}")
    try:
        async with database.transaction():
            with pytest.raises(RuntimeError, match="inside another"):
                async with database.transaction():
                    pass
    finally:
        await database.dispose()
