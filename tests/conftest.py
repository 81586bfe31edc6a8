"""Fixtures: real Redis and real databases (SQLite always, PostgreSQL when one can be had)."""

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from shared.db import Database, plumbing
from shared.runtime import Platform, ServiceSpec
from tests import servers, support

pytest_plugins = ["tests.redis_header"]  # the session's header says which Redis runs


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with servers.redis_url() as url:
        yield url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client on a flushed database: each test starts with no streams."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | LookupError]:
    """A PostgreSQL server URL, or the reason there is none (tests using it then skip)."""
    with contextlib.ExitStack() as stack:
        try:
            url: str | LookupError = stack.enter_context(servers.postgres_url())
        except LookupError as reason:
            url = reason
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_kind(
    request: pytest.FixtureRequest, postgres_server: str | LookupError
) -> tuple[str, str | None]:
    """A database kind for a whole platform (the chaos suite, the benchmarks), and for
    PostgreSQL the server to make its databases on (skipped, saying why, if there is none)."""
    if request.param == "sqlite":
        return "sqlite", None
    if isinstance(postgres_server, LookupError):
        pytest.skip(str(postgres_server))
    return "postgresql", postgres_server


DatabaseFactory = Callable[[], Awaitable[str]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def new_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: str | LookupError
) -> AsyncIterator[DatabaseFactory]:
    """Makes empty databases of the parametrised kind and drops them after the test."""
    created: list[str] = []
    if request.param == "postgresql" and isinstance(postgres_server, LookupError):
        pytest.skip(str(postgres_server))

    async def new() -> str:
        name = f"t_{secrets.token_hex(6)}"
        if request.param == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / name}.db"
        assert isinstance(postgres_server, str)
        connection = await asyncpg.connect(postgres_server)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        created.append(name)
        url = make_url(postgres_server).set(drivername="postgresql+asyncpg", database=name)
        return url.render_as_string(hide_password=False)

    yield new
    if created:
        assert isinstance(postgres_server, str)
        connection = await asyncpg.connect(postgres_server)
        try:
            for name in created:
                await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await connection.close()


@pytest.fixture
async def database_url(new_database_url: DatabaseFactory) -> str:
    return await new_database_url()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The test service's database with its tables created."""
    db = Database(database_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(plumbing.create_all)
        await connection.run_sync(support.metadata.create_all)
    yield db
    await db.dispose()


PlatformFactory = Callable[..., Awaitable[Platform]]


@pytest.fixture
async def start_platform(
    redis: Redis, redis_url: str, database: Database
) -> AsyncIterator[PlatformFactory]:
    """Starts test-service processes' plumbing in this event loop; stops them afterwards."""
    started: list[Platform] = []

    async def start(
        behaviour: support.Behaviour,
        *,
        housekeeping: Callable[[Platform], Awaitable[None]] | None = None,
        workers: Sequence[Callable[[Platform], Coroutine[Any, Any, None]]] = (),
        **overrides: object,
    ) -> Platform:
        values: dict[str, object] = {
            "redis_url": redis_url,
            "database_url": database.url.render_as_string(hide_password=False),
            "poll_interval_ms": 20,
            "reclaim_idle_ms": 300,
            "max_deliveries": 3,
            "relay_poll_interval_ms": 50,
            "maintenance_interval_s": 0.2,
            "embedded": True,  # finds intake's keys on loopback, as `safereturn up` does
        }
        settings = support.TestSettings.model_validate(values | overrides)
        spec = ServiceSpec(
            settings,
            subscriptions=[behaviour.subscription()],
            registry=support.registry,
            housekeeping=housekeeping,
            workers=workers,
        )
        platform = Platform(spec)
        await platform.start()
        started.append(platform)
        return platform

    yield start
    for platform in reversed(started):
        if platform.started:
            await platform.stop()
