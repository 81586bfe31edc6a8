"""Alembic, per service: each service keeps its own version chain under ``migrations/``.

``upgrade`` applies a service's chain to its database (on start in embedded mode, or from
``safereturn migrate``). Each service's ``env.py`` is one call to :func:`run_env`.
"""

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import Connection, MetaData

from shared.audit import GENESIS, chain_hash, record_of
from shared.db import Database, Sequence64, audit_log
from shared.vault import Vault, VaultError

MIGRATION_LOCK = int.from_bytes(
    hashlib.sha256(b"safereturn:migrations").digest()[:8], "big", signed=True
)


def _config(script_location: Path, connection: Connection, vault: Vault | None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    config.attributes["vault"] = vault
    return config


def migration_vault() -> Vault:
    """The service's vault, for a migration that seals or re-keys existing rows."""
    vault: Vault | None = context.config.attributes.get("vault")
    if vault is None:
        raise RuntimeError("this migration seals existing rows: it needs the service's keyring")
    return vault


async def upgrade(
    database: Database,
    script_location: Path,
    revision: str = "head",
    *,
    vault: Vault | None = None,
) -> None:
    """Bring ``database`` to ``revision`` of the chain at ``script_location``; ``vault`` is
    the service's keyring, for migrations that seal or re-key existing rows.

    On PostgreSQL the whole upgrade holds a transaction-scoped advisory lock: replicas or jobs
    that migrate at once take turns, and each after the first finds the chain at its head."""
    async with database.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            await connection.execute(sa.text("SET LOCAL statement_timeout = 0"))  # may be long
        await connection.run_sync(
            lambda sync: command.upgrade(_config(script_location, sync, vault), revision)
        )
        await connection.commit()


def run_env(target_metadata: Sequence[MetaData]) -> None:
    """The body of every service's ``env.py``: migrate over the connection we were handed."""
    connection: Connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=list(target_metadata),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def create_plumbing_v1() -> None:
    """Inbox, outbox and probe receipts as first released. Never edit: add a v2 instead."""
    op.create_table(
        "inbox",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("stream", sa.String(120), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name="pk_inbox"),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", Sequence64, nullable=False, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("stream", sa.String(120), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at", "seq"])
    op.create_table(
        "probe_receipts",
        sa.Column("probe_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("probe_id", name="pk_probe_receipts"),
    )


def drop_plumbing_v1() -> None:
    for table in ("probe_receipts", "outbox", "inbox"):
        op.drop_table(table)


def create_plumbing_v2() -> None:
    """The hash-chained audit log and its head. Never edit: add a v3 instead."""
    op.create_table(
        "audit_log",
        sa.Column("seq", Sequence64, nullable=False, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("role", sa.String(40), nullable=True),
        sa.Column("agency", sa.String(200), nullable=True),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(80), nullable=True),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("seq", Sequence64, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])


def drop_plumbing_v2() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_log")


def create_plumbing_v3() -> None:
    """The case register of downstream services. Never edit: add a v4 instead."""
    op.create_table(
        "case_register",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.Column("province", sa.String(2), nullable=True),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("merged_into", sa.String(40), nullable=True),
        sa.Column("consent_services", sa.Boolean(), nullable=True),
        sa.Column("consent_information_sharing", sa.Boolean(), nullable=True),
        sa.Column("consent_statistics", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", name="pk_case_register"),
    )


def drop_plumbing_v3() -> None:
    op.drop_table("case_register")


def create_plumbing_v4() -> None:
    """The case register keeps each event's own facts, so arrival order does not matter. Never
    edit: add a v5 instead."""
    with op.batch_alter_table("case_register") as batch:
        batch.add_column(sa.Column("opened", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("decision", sa.String(20), nullable=True))
        batch.add_column(sa.Column("decided_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("decision_rank", sa.String(100), nullable=True))


def drop_plumbing_v4() -> None:
    with op.batch_alter_table("case_register") as batch:
        for column in ("decision_rank", "decided_on", "decision", "opened"):
            batch.drop_column(column)


def unkey_audit_chain_v5() -> None:
    """Undo ``rekey_audit_chain_v5`` where there is nothing to undo: an empty chain is the
    same keyed or plain. A keyed chain with records is not turned back into a plain one."""
    if op.get_bind().execute(sa.select(sa.func.count()).select_from(audit_log)).scalar():
        raise NotImplementedError("a keyed chain is not turned back into a plain one")


def rekey_audit_chain_v5() -> None:
    """Re-hash an existing audit chain under the service's chain key (HMAC), once.

    The plain chain is verified first: only an intact chain is vouched for by the key.
    """
    bind = op.get_bind()
    rows = bind.execute(sa.select(audit_log).order_by(audit_log.c.seq)).mappings().all()
    if not rows:
        return
    key = migration_vault().chain_key
    plain_prev, keyed_prev = GENESIS, GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        record = record_of(row)
        canonical = record.canonical(row["seq"], plain_prev)
        if (
            row["seq"] != expected_seq
            or row["prev_hash"] != plain_prev
            or (hashlib.sha256(canonical).hexdigest() != row["hash"])
        ):
            raise RuntimeError(f"the audit chain is broken at record {row['seq']}: not re-keyed")
        plain_prev = row["hash"]
        keyed = chain_hash(record, row["seq"], keyed_prev, key)
        bind.execute(
            sa.text("UPDATE audit_log SET prev_hash = :prev, hash = :hash WHERE seq = :seq"),
            {"prev": keyed_prev, "hash": keyed, "seq": row["seq"]},
        )
        keyed_prev = keyed
    head = bind.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    if (head.seq, head.hash) != (len(rows), plain_prev):
        raise RuntimeError("the audit chain's head does not match its records: not re-keyed")
    bind.execute(sa.text("UPDATE audit_head SET hash = :hash WHERE id = 1"), {"hash": keyed_prev})


def _opens(vault: Vault, value: str, context: str) -> bool:
    try:
        vault.open(value, context)
    except (VaultError, ValueError):
        return False
    return True


def seal_column(table: str, key: str, column: str, context: Callable[[Any], str], *,
                opened: Callable[[Any], dict[str, Any]] | None = None) -> int:  # fmt: skip
    """Seal every clear value of ``table.column`` with the service's vault (a value that
    already opens is left as it is); how many were sealed. ``context`` binds a value to its
    row; ``opened`` says what is sealed for a row (by default ``{"text": value}``)."""
    bind = op.get_bind()
    found = sa.Table(table, MetaData(), autoload_with=bind)
    rows = bind.execute(sa.select(found).where(found.c[column].is_not(None))).mappings().all()
    if not rows:
        return 0
    vault = migration_vault()
    sealed = 0
    for row in rows:
        if _opens(vault, row[column], context(row)):
            continue
        value = opened(row) if opened else {"text": row[column]}
        bind.execute(
            sa.update(found)
            .where(found.c[key] == row[key])
            .values({column: vault.seal(value, context(row))})
        )
        sealed += 1
    return sealed
