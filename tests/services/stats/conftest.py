"""Empty stats databases, on SQLite and PostgreSQL, for the projection tests."""

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from shared.db import Database
from tests.services.stats.deliveries import Open, new_database


@pytest.fixture
async def open_database(new_database_url: Callable[[], Awaitable[str]]) -> AsyncIterator[Open]:
    """Opens empty stats databases (of the parametrised kind) and disposes of them after."""
    opened: list[Database] = []

    async def new() -> Database:
        opened.append(await new_database(await new_database_url()))
        return opened[-1]

    yield new
    for database in opened:
        await database.dispose()


@pytest.fixture
async def two_databases(open_database: Open) -> tuple[Database, Database]:
    """Made once for all the examples of a property, emptied by each."""
    return await open_database(), await open_database()
