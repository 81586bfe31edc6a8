"""Persistence: one async SQLAlchemy database per service, and the tables every service shares.

SQLite (embedded mode) runs in WAL mode and starts every transaction with ``BEGIN IMMEDIATE``:
writers queue on the busy timeout instead of failing when a read turns into a write, and
SAVEPOINTs behave. PostgreSQL (production) needs nothing special.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.private import private_file

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 30_000


def upsert(session: AsyncSession, table: Table) -> Any:
    """An INSERT with ``ON CONFLICT`` clauses, in the session's dialect."""
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def new_metadata() -> MetaData:
    """A MetaData with the platform's constraint naming convention (stable migration names)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _timestamp() -> UtcDateTime:
    return UtcDateTime()


Sequence64 = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only

plumbing = new_metadata()

inbox = Table(
    "inbox",
    plumbing,
    Column("source", String(200), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("event_type", String(120), nullable=False),
    Column("stream", String(120), nullable=False),
    Column("processed_at", _timestamp(), nullable=False),
)

outbox = Table(
    "outbox",
    plumbing,
    Column("seq", Sequence64, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("event_type", String(120), nullable=False),
    Column("stream", String(120), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("created_at", _timestamp(), nullable=False),
    Column("published_at", _timestamp(), nullable=True),
)
Index("ix_outbox_unpublished", outbox.c.published_at, outbox.c.seq)

probe_receipts = Table(
    "probe_receipts",
    plumbing,
    Column("probe_id", String(64), primary_key=True),
    Column("event_id", String(64), nullable=False),
    Column("requested_at", _timestamp(), nullable=False),
    Column("received_at", _timestamp(), nullable=False),
    Column("trace_id", String(32), nullable=True),
)

audit_log = Table(
    "audit_log",
    plumbing,
    Column("seq", Sequence64, primary_key=True, autoincrement=False),
    Column("at", _timestamp(), nullable=False),
    Column("service", String(40), nullable=False),
    Column("client_id", String(64), nullable=True),
    Column("role", String(40), nullable=True),
    Column("agency", String(200), nullable=True),
    Column("action", String(200), nullable=False),
    Column("case_id", String(64), nullable=True),
    Column("outcome", String(40), nullable=False),
    Column("status", Integer, nullable=False),
    Column("reason", String(80), nullable=True),
    Column("trace_id", String(32), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    plumbing,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Sequence64, nullable=False),
    Column("hash", String(64), nullable=False),
)

case_register = Table(
    "case_register",
    plumbing,
    Column("case_id", String(40), primary_key=True),
    Column("received_on", Date, nullable=True),
    Column("province", String(2), nullable=True),
    Column("ward", String(5), nullable=True),
    Column("status", String(20), nullable=False),
    Column("merged_into", String(40), nullable=True),
    Column("consent_services", Boolean, nullable=True),
    Column("consent_information_sharing", Boolean, nullable=True),
    Column("consent_statistics", Boolean, nullable=True),
    # Each event sets only the facts it owns; ``status`` is derived from them (shared.cases).
    Column("opened", Boolean, nullable=True),
    Column("decision", String(20), nullable=True),
    Column("decided_on", Date, nullable=True),
    Column("decision_rank", String(100), nullable=True),
)


def _prepare_sqlite(engine: AsyncEngine, *, begin: str) -> None:
    database = engine.url.database
    if database and database != ":memory:":
        # Made here, the owner's only: SQLite gives its WAL and shared-memory files the same mode.
        Path(database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_file(Path(database))

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not the driver, opens transactions
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


@dataclass(frozen=True)
class PoolLimits:
    """A PostgreSQL database's connections and how long a statement may run (settings
    ``database_pool_size``, ``database_max_overflow``, ``database_pool_timeout_s``,
    ``database_statement_timeout_ms``; 0: no limit)."""

    size: int = 10
    overflow: int = 5
    timeout_s: float = 30.0
    statement_timeout_ms: int = 30_000

    def engine_options(self) -> dict[str, Any]:
        server = {"statement_timeout": str(self.statement_timeout_ms)}
        return {
            "pool_size": self.size,
            "max_overflow": self.overflow,
            "pool_timeout": self.timeout_s,
            "connect_args": {"server_settings": server},
        }


class Database:
    """A service's database: its engine and its units of work.

    On SQLite, writes take the write lock as they begin (``BEGIN IMMEDIATE``); reads go
    through a second engine with plain ``BEGIN`` so they never queue behind writers. A
    process's writing transactions also wait their turn in the process: SQLite's own busy
    handler, which only one of them gets past at a time anyway, wakes its waiters by sleeping
    up to 100 ms at a time, while the lock was free long before (docs/performance.md).
    """

    def __init__(self, url: str, *, echo: bool = False, limits: "PoolLimits | None" = None) -> None:
        self.url = make_url(url)
        # Bound values may be personal data: errors name the statement, never its values.
        self.engine = create_async_engine(
            self.url, echo=echo, pool_pre_ping=True, hide_parameters=True,
            **({} if self.is_sqlite else (limits or PoolLimits()).engine_options()),
        )  # fmt: skip
        self.read_engine = self.engine
        if self.is_sqlite:
            _prepare_sqlite(self.engine, begin="BEGIN IMMEDIATE")
            self.read_engine = create_async_engine(self.url, echo=echo, hide_parameters=True)
            _prepare_sqlite(self.read_engine, begin="BEGIN")
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._holder: asyncio.Task[Any] | None = None  # the task whose turn it is

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self._turn(), self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """On SQLite, this process's writing transactions one at a time (elsewhere, no wait)."""
        if not self.is_sqlite:
            yield
            return
        task = asyncio.current_task()
        if self._holder is not None and self._holder is task:
            raise RuntimeError("a writing transaction inside another on SQLite would wait forever")
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:  # a lock serves one event loop
            self._turns = (loop, asyncio.Lock())
        async with self._turns[1]:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A transaction that only reads (it must not write)."""
        async with self.read_sessions() as session, session.begin():
            yield session

    def attach_vault(self, vault: Callable[[], Any]) -> None:
        """Give this database's sessions the service's vault (see ``shared.vault.vault_of``):
        stores seal secrets and notes with it, and its key never enters the database."""
        for maker in (self.sessions, self.read_sessions):
            maker.configure(info={"vault": vault})

    async def ping(self) -> None:
        async with self.read_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
