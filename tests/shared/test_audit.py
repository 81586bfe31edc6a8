"""The audit chain on a real database: it verifies, and any tampering is detected, even by
someone who can write the database and recompute every hash, since they lack the key."""

import asyncio
import hashlib
from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from shared import audit
from shared.audit import AuditRecord
from shared.db import Database, audit_head, audit_log

KEY = b"k" * 32


def record(n: int) -> AuditRecord:
    return AuditRecord(
        at=datetime(2026, 1, 1, 8, n % 60, tzinfo=UTC),
        service="tests",
        action="POST /v1/things",
        outcome="success",
        status=201,
        client_id=f"sr-{n:04d}",
        role="reporter",
        agency="Commune committee",
        case_id=f"case-{n}",
        trace_id="0af7651916cd43dd8448eb211c80319c",
    )


async def seeded(database: Database, count: int) -> None:
    async with database.transaction() as session:  # what migration v2 seeds
        await session.execute(audit_head.insert().values(id=1, seq=0, hash=audit.GENESIS))
    for n in range(1, count + 1):
        async with database.transaction() as session:
            await audit.append(session, record(n), KEY)


async def report(database: Database) -> audit.ChainReport:
    async with database.transaction() as session:
        return await audit.verify(session, KEY)


async def test_an_untouched_chain_verifies(database: Database) -> None:
    await seeded(database, 5)
    assert await report(database) == audit.ChainReport(True, 5)


async def test_concurrent_appends_keep_one_unbroken_chain(database: Database) -> None:
    await seeded(database, 0)

    async def add(n: int) -> None:
        async with database.transaction() as session:
            await audit.append(session, record(n), KEY)

    await asyncio.gather(*(add(n) for n in range(1, 21)))
    assert await report(database) == audit.ChainReport(True, 20)


async def test_an_altered_record_breaks_the_chain(database: Database) -> None:
    await seeded(database, 5)
    async with database.transaction() as session:
        await session.execute(
            update(audit_log).where(audit_log.c.seq == 3).values(outcome="denied")
        )
    found = await report(database)
    assert (found.ok, found.broken_at) == (False, 3)
    assert found.problem == "record content does not match its hash"


async def test_a_removed_record_breaks_the_chain(database: Database) -> None:
    await seeded(database, 5)
    async with database.transaction() as session:
        await session.execute(delete(audit_log).where(audit_log.c.seq == 2))
    assert not (await report(database)).ok


async def test_a_cut_tail_is_detected_by_the_head(database: Database) -> None:
    await seeded(database, 5)
    async with database.transaction() as session:
        await session.execute(delete(audit_log).where(audit_log.c.seq == 5))
    found = await report(database)
    assert not found.ok
    assert found.problem == "records after the last one were removed"


async def test_an_edited_record_with_every_hash_recomputed_is_still_detected(
    database: Database,
) -> None:
    """The attacker edits a record and recomputes the chain as it was computed before it was
    keyed (plain SHA-256 of the same content): without the key the chain does not verify."""
    await seeded(database, 5)
    async with database.transaction() as session:
        await session.execute(
            update(audit_log).where(audit_log.c.seq == 2).values(outcome="denied", status=403)
        )
        rows = list(await session.execute(select(audit_log).order_by(audit_log.c.seq)))
        prev = audit.GENESIS
        for row in rows:
            digest = hashlib.sha256(audit.record_of(row).canonical(row.seq, prev)).hexdigest()
            await session.execute(
                update(audit_log).where(audit_log.c.seq == row.seq)
                .values(prev_hash=prev, hash=digest)
            )  # fmt: skip
            prev = digest
        await session.execute(update(audit_head).where(audit_head.c.id == 1).values(hash=prev))
    found = await report(database)
    assert (found.ok, found.broken_at) == (False, 1)
    assert found.problem == "record content does not match its hash"
