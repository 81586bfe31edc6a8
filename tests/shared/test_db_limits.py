"""PostgreSQL in production: the pool's size and a statement timeout come from the settings;
a statement running past it is cancelled, and migrations (which may be long) run without it."""

from importlib import import_module

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.db import Database, PoolLimits
from shared.migrations import upgrade
from shared.names import Service
from shared.settings import settings_for
from tests.conftest import DatabaseFactory


async def postgres(new_database_url: DatabaseFactory, limits: PoolLimits) -> Database:
    url = await new_database_url()
    if url.startswith("sqlite"):
        pytest.skip("SQLite has no server-side statement timeout or connection pool to size")
    return Database(url, limits=limits)


async def test_a_statement_past_the_timeout_is_cancelled(new_database_url: DatabaseFactory) -> None:
    database = await postgres(new_database_url, PoolLimits(size=3, statement_timeout_ms=300))
    try:
        assert database.engine.pool.size() == 3  # type: ignore[attr-defined]
        async with database.reading() as session:
            assert await session.scalar(text("SHOW statement_timeout")) == "300ms"
        with pytest.raises(DBAPIError, match="statement timeout"):
            async with database.reading() as session:
                await session.execute(text("SELECT pg_sleep(2)"))
        migrations = import_module(f"services.{Service.STATS}.app").MIGRATIONS
        await upgrade(database, migrations)  # its statements are not held to 300 ms
    finally:
        await database.dispose()


def test_the_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFERETURN_DATABASE_POOL_SIZE", "4")
    monkeypatch.setenv("SAFERETURN_STATS_DATABASE_STATEMENT_TIMEOUT_MS", "5000")
    assert settings_for(Service.STATS).database_limits == PoolLimits(4, 5, 30.0, 5000)
    assert settings_for(Service.INTAKE).database_limits.statement_timeout_ms == 30_000
