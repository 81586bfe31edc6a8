"""The audit log: append-only, hash-chained, one chain per service database.

Recorded: every write (in the same transaction as the write when it commits), every read of
personal data, every export, every failed authentication and every refusal. A record holds
who (client, role, agency), what (action, case id), the outcome, when and the trace id —
never personal data. Each record's hash covers the previous record's hash, so altering,
removing or reordering a record breaks the chain, and the chain head catches a cut tail.

The hash is an HMAC under the service's chain key, kept in its vault keyring outside the
database: whoever can write the database but not read the key file cannot recompute the
chain after editing a record.
"""

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access import Principal, Rule
from shared.db import audit_head, audit_log

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    service: str
    action: str
    outcome: str
    status: int
    client_id: str | None = None
    role: str | None = None
    agency: str | None = None
    case_id: str | None = None
    reason: str | None = None
    trace_id: str | None = None

    def canonical(self, seq: int, prev_hash: str) -> bytes:
        values: dict[str, Any] = asdict(self) | {"seq": seq, "prev_hash": prev_hash}
        values["at"] = self.at.astimezone(UTC).isoformat()
        return json.dumps(values, sort_keys=True, separators=(",", ":")).encode()


def chain_hash(record: AuditRecord, seq: int, prev_hash: str, key: bytes) -> str:
    if not key:
        raise ValueError("the audit chain needs its key (the service's vault keyring)")
    return hmac.new(key, record.canonical(seq, prev_hash), hashlib.sha256).hexdigest()


async def append(session: AsyncSession, record: AuditRecord, key: bytes) -> int:
    """Add ``record`` at the end of the chain, inside the caller's transaction.

    It locks the chain's head until commit: call it last in a transaction (after any other
    lock), as ``Platform.unit_of_work`` does, so two transactions never wait on each other.
    """
    head = (
        await session.execute(
            select(audit_head.c.seq, audit_head.c.hash)
            .where(audit_head.c.id == 1)
            .with_for_update()
        )
    ).one()
    seq = head.seq + 1
    digest = chain_hash(record, seq, head.hash, key)
    await session.execute(
        insert(audit_log).values(**asdict(record), seq=seq, prev_hash=head.hash, hash=digest)
    )
    await session.execute(
        update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=digest)
    )
    return int(seq)


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    records: int
    broken_at: int | None = None
    problem: str | None = None


async def query(
    session: AsyncSession, filters: dict[str, Any], *, after_seq: int, limit: int
) -> list[dict[str, Any]]:
    """Records matching ``filters`` (column → value; ``since``/``until`` bound ``at``)."""
    statement = select(audit_log).where(audit_log.c.seq > after_seq)
    for name, value in filters.items():
        if value is None:
            continue
        if name == "since":
            statement = statement.where(audit_log.c.at >= value)
        elif name == "until":
            statement = statement.where(audit_log.c.at < value)
        else:
            statement = statement.where(audit_log.c[name] == value)
    rows = await session.execute(statement.order_by(audit_log.c.seq).limit(limit))
    return [row._asdict() for row in rows]


def record_of(row: Any) -> AuditRecord:
    """The record a stored row (or a mapping of its columns) holds."""
    get = row.__getitem__ if hasattr(row, "keys") else lambda name: getattr(row, name)
    values = {name: get(name) for name in AuditRecord.__dataclass_fields__}
    if values["at"].tzinfo is None:  # SQLite hands back naive UTC on raw reads
        values["at"] = values["at"].replace(tzinfo=UTC)
    return AuditRecord(**values)


async def verify(session: AsyncSession, key: bytes) -> ChainReport:
    """Recompute the chain from the first record up to the head; report the first break.

    The head is read first: records appended while verifying lie beyond it and are left
    for the next verification.
    """
    head = (await session.execute(select(audit_head).where(audit_head.c.id == 1))).one()
    expected_prev, count = GENESIS, 0
    rows: AsyncIterator[Any] = await session.stream(
        select(audit_log).where(audit_log.c.seq <= head.seq).order_by(audit_log.c.seq)
    )
    async for row in rows:
        count += 1
        if row.seq != count:
            return ChainReport(False, count, row.seq, f"record {count} is missing")
        if row.prev_hash != expected_prev:
            return ChainReport(False, count, row.seq, "link to the previous record is broken")
        if not hmac.compare_digest(
            chain_hash(record_of(row), row.seq, row.prev_hash, key), row.hash
        ):
            return ChainReport(False, count, row.seq, "record content does not match its hash")
        expected_prev = row.hash
    if head.seq != count or head.hash != expected_prev:
        return ChainReport(False, count, head.seq, "records after the last one were removed")
    return ChainReport(True, count)


@dataclass
class AuditContext:
    """What one HTTP request will be audited as; filled in as the request is authorised."""

    service: str
    action: str
    trace_id: str | None
    principal: Principal | None = None
    rule: Rule | None = None
    case_id: str | None = None
    reason: str | None = None
    success_status: int = 200
    refused_status: int | None = None
    """Set when the handler answers with a problem: the status the caller gets instead."""
    recorded: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def record(self, outcome: str, status: int) -> AuditRecord:
        principal = self.principal
        return AuditRecord(
            at=datetime.now(UTC),
            service=self.service,
            action=self.action,
            outcome=outcome,
            status=status,
            client_id=principal.client_id if principal else self.extra.get("client_id"),
            role=str(principal.role) if principal else None,
            agency=principal.agency if principal else None,
            case_id=self.case_id,
            reason=self.reason,
            trace_id=self.trace_id,
        )


current_audit: ContextVar[AuditContext | None] = ContextVar("current_audit", default=None)


def refused(status: int) -> None:
    """The request being handled answers ``status`` (a problem): audit it as that."""
    context = current_audit.get()
    if context is not None and status >= 400:
        context.refused_status = status


async def append_pending(session: AsyncSession, key: bytes) -> AuditContext | None:
    """Inside a unit of work of an audited write: record it in the same transaction, with
    the outcome the caller gets (a handler answering a refusal is audited as refused).

    Returns the context, for the caller to mark recorded once the transaction commits.
    """
    context = current_audit.get()
    if context is None or context.recorded or context.rule is None:
        return None
    if context.rule.method in {"GET", "HEAD"}:
        return None  # reads are recorded by the middleware, before the response leaves
    status = context.refused_status or context.success_status
    await append(session, context.record(outcome(status), status), key)
    return context


ALWAYS_AUDITED = {401: "unauthenticated", 403: "denied", 429: "rate_limited"}


def outcome(status: int) -> str:
    """The audited outcome of an HTTP status."""
    if status in ALWAYS_AUDITED:
        return ALWAYS_AUDITED[status]
    if status < 400:
        return "success"
    return "rejected" if status < 500 else "error"
