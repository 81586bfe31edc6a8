"""Webhook signing secrets are stored sealed with notify's vault (the database alone does not
let anyone sign as the platform), open for delivery, and the migration seals stored ones."""

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from services.notify import directory, store
from services.notify.app import MIGRATIONS
from services.notify.channels import new_webhook_secret
from shared.db import Database
from shared.migrations import upgrade
from shared.vault import Vault

AGENCY = {"name": "Sở LĐTBXH", "kind": "social_affairs", "province": "08",
          "webhooks": ["https://agency.example/hook"]}  # fmt: skip


def subscription(secret: str) -> dict[str, object]:
    return {"subscription_id": "sub-1", "client_id": "sr-1", "url": "https://x.example/h",
            "event_types": ["case.received"], "province": None, "ward": None,
            "secret": secret, "status": "active", "created_at": datetime.now(UTC)}  # fmt: skip


async def migrated(database_url: str, tmp_path: Path, revision: str = "head") -> Database:
    database = Database(database_url)
    vault = Vault.load(tmp_path / "notify-vault.json", create=True)
    database.attach_vault(lambda: vault)
    await upgrade(database, MIGRATIONS, revision, vault=vault)
    return database


async def test_webhook_secrets_are_stored_sealed_and_open_for_delivery(
    database_url: str, tmp_path: Path
) -> None:
    database = await migrated(database_url, tmp_path)
    vault = Vault.load(tmp_path / "notify-vault.json", create=False)
    secret = new_webhook_secret()
    try:
        async with database.transaction() as session:
            shown, agency_secret = await directory.add(session, AGENCY)
            await store.add_subscription(session, subscription(secret))
        async with database.reading() as session:
            agency = await store.agency(session, shown["agency_id"])
            found = await store.subscription(session, "sub-1")
        assert agency_secret is not None
        assert agency_secret not in agency.webhook_secret
        assert secret not in found.secret
        assert store.agency_secret(vault, agency) == agency_secret
        assert store.subscription_secret(vault, found) == secret
    finally:
        await database.dispose()


async def test_the_migration_seals_secrets_stored_in_clear(
    database_url: str, tmp_path: Path
) -> None:
    database = await migrated(database_url, tmp_path, "0007")
    secret, agency_secret = new_webhook_secret(), new_webhook_secret()
    try:
        async with database.transaction() as session:
            await session.execute(insert(store.subscriptions).values(**subscription(secret)))
            await session.execute(insert(store.agencies).values(
                agency_id="ag-1", emails=[], phones=[], language="vi", ward=None,
                webhook_secret=agency_secret, created_at=datetime.now(UTC), **AGENCY))  # fmt: skip
        vault = Vault.load(tmp_path / "notify-vault.json", create=False)
        await upgrade(database, MIGRATIONS, vault=vault)
        async with database.reading() as session:
            stored = (await session.execute(select(store.subscriptions.c.secret))).scalar_one()
            agency = await store.agency(session, "ag-1")
        assert secret not in stored
        assert agency_secret not in agency.webhook_secret
        assert store.agency_secret(vault, agency) == agency_secret
    finally:
        await database.dispose()
