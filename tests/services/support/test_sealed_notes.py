"""Support's free text is stored sealed with support's vault, like intake's personal data:
every free-text column holds no clear text, the stores open it, and the migration seals what
a database already holds."""

from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from services.support import store
from services.support.app import MIGRATIONS
from services.support.notes import SEALED
from shared.db import Database, case_register
from shared.migrations import upgrade
from shared.vault import Vault

NOTE = "Chị Lò Thị Mai kể bị bán sang Hà Khẩu"  # what a note may say: personal, sensitive

GRANT = {
    "grant_id": "g-1",
    "case_id": "c-1",
    "kind": "essential_needs",
    "beneficiary": "person",
    "group": "victim",
    "quantity": 1,
    "unit": "case",
    "rate": 1,
    "amount": 1,
    "granted_on": date(2026, 1, 2),
    "regime": "2025",
    "rule": "r",
    "legal_basis": "law",
    "receipt_ref": None,
    "status": "approved",
    "granted_by": "sr-1",
    "decided_by": "sr-2",
    "decided_on": date(2026, 1, 2),
    "decision_note": NOTE,
    "province": "08",
    "ward": None,
}
REFERRAL = {
    "referral_id": "r-1",
    "case_id": "c-1",
    "service": "legal_aid",
    "provider": "P",
    "status": "requested",
    "referred_on": date(2026, 1, 2),
    "updated_on": date(2026, 1, 2),
    "reason": NOTE,
    "provider_note": NOTE,
    "referred_by": "sr-1",
    "province": "08",
    "ward": None,
}
VISIT = {
    "visit_id": "v-1",
    "case_id": "c-1",
    "visited_on": date(2026, 1, 3),
    "situation": "stable",
    "retrafficking_risk": False,
    "note": NOTE,
    "recorded_by": "sr-1",
}


async def migrated(database_url: str, tmp_path: Path, revision: str = "head") -> Database:
    database = Database(database_url)
    vault = Vault.load(tmp_path / "support-vault.json", create=True)
    database.attach_vault(lambda: vault)
    await upgrade(database, MIGRATIONS, revision, vault=vault)
    return database


async def stored_in_clear(database: Database) -> list[str]:
    found = []
    async with database.reading() as session:
        for table, (_, columns) in SEALED.items():
            for column in columns:
                values = await session.scalars(text(f"SELECT {column} FROM {table}"))
                found += [f"{table}.{column}" for v in values if v and NOTE in v]
    return found


async def opened(database: Database) -> list[Any]:
    async with database.reading() as session:
        grant = await store.grant(session, "g-1")
        referral = await store.referral(session, "r-1")
        [visit] = await store.follow_ups_of(session, "c-1")
        facts = await store.case_facts(session, "c-1")
    return [grant.decision_note, referral.reason, referral.provider_note, visit.note,
            facts.household_evidence]  # fmt: skip


async def test_free_text_is_stored_sealed_and_opens(database_url: str, tmp_path: Path) -> None:
    database = await migrated(database_url, tmp_path)
    try:
        async with database.transaction() as session:
            await session.execute(insert(case_register).values(case_id="c-1", status="received"))
            await store.add_grant(session, GRANT)
            await store.add_referral(session, REFERRAL)
            await store.add_follow_up(session, VISIT)
            await store.update_case(session, "c-1", household_evidence=NOTE)
        assert await stored_in_clear(database) == []
        assert await opened(database) == [NOTE] * 5
    finally:
        await database.dispose()


async def test_the_migration_seals_free_text_stored_in_clear(
    database_url: str, tmp_path: Path
) -> None:
    database = await migrated(database_url, tmp_path, "0006")
    try:
        async with database.transaction() as session:
            await session.execute(insert(case_register).values(case_id="c-1", status="received"))
            await session.execute(insert(store.grants).values(disbursed=0, **GRANT))
            await session.execute(insert(store.referrals).values(**REFERRAL))
            await session.execute(insert(store.follow_ups).values(**VISIT))
            await session.execute(insert(store.support_cases).values(
                case_id="c-1", refused_kinds=[], household_evidence=NOTE))  # fmt: skip
        assert len(await stored_in_clear(database)) == 5
        vault = Vault.load(tmp_path / "support-vault.json", create=False)
        await upgrade(database, MIGRATIONS, vault=vault)
        assert await stored_in_clear(database) == []
        assert await opened(database) == [NOTE] * 5
        async with database.reading() as session:  # the untouched columns are as they were
            assert await session.scalar(select(store.grants.c.legal_basis)) == "law"
    finally:
        await database.dispose()
