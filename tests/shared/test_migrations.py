"""Each service's migrations build exactly the schema its code declares (SQLite, PostgreSQL)."""

import asyncio
from importlib import import_module

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData

from shared.db import Database, new_metadata, plumbing
from shared.migrations import upgrade
from shared.names import Service
from tests.conftest import DatabaseFactory


def declared(service: Service) -> MetaData:
    merged = new_metadata()
    import_module(f"services.{service}.app")  # registers every table of the service
    for metadata in (plumbing, import_module(f"services.{service}.store").metadata):
        for table in metadata.tables.values():
            table.to_metadata(merged)
    return merged


def differences(connection: Connection, metadata: MetaData) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [diff for diff in compare_metadata(context, metadata) if diff]


@pytest.mark.parametrize("service", list(Service))
async def test_migrations_build_the_declared_schema(
    service: Service, new_database_url: DatabaseFactory
) -> None:
    database = Database(await new_database_url())
    try:
        migrations = import_module(f"services.{service}.app").MIGRATIONS
        await upgrade(database, migrations)
        await upgrade(database, migrations)  # applying again is a no-op
        async with database.engine.connect() as connection:
            diff = await connection.run_sync(differences, declared(service))
    finally:
        await database.dispose()
    assert diff == []


async def test_replicas_that_migrate_at_once_take_turns(new_database_url: DatabaseFactory) -> None:
    """Every replica of a service starting together (or two migration jobs) on an empty
    PostgreSQL database: all succeed, and the schema is built once."""
    url = await new_database_url()
    if url.startswith("sqlite"):
        pytest.skip("SQLite's file has one writer at a time anyway; the lock is PostgreSQL's")
    databases = [Database(url) for _ in range(4)]
    try:
        migrations = import_module(f"services.{Service.INTAKE}.app").MIGRATIONS
        await asyncio.gather(*(upgrade(database, migrations) for database in databases))
        async with databases[0].engine.connect() as connection:
            diff = await connection.run_sync(differences, declared(Service.INTAKE))
        assert diff == []
    finally:
        for database in databases:
            await database.dispose()
