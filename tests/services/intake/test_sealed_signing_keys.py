"""Token signing keys are sealed with intake's vault: the database holds no key in clear, a
key written into the database by anyone without the vault's key is never used or published,
and the migration seals the keys a database already holds."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from services.intake.app import MIGRATIONS
from services.intake.identity import admin, domain
from services.intake.identity.store import signing_keys
from shared.db import Database
from shared.migrations import upgrade
from shared.vault import Vault


def attached(database: Database, tmp_path: Path) -> Vault:
    vault = Vault.load(tmp_path / "intake-vault.json", create=True)
    database.attach_vault(lambda: vault)
    return vault


async def test_keys_are_stored_sealed_and_one_planted_in_clear_is_never_used(
    database_url: str, tmp_path: Path
) -> None:
    database = Database(database_url)
    try:
        vault = attached(database, tmp_path)
        await upgrade(database, MIGRATIONS, vault=vault)
        async with database.transaction() as session:
            genuine = await admin.current_signing_key(session)
        async with database.reading() as session:
            stored = (await session.execute(select(signing_keys.c.private_pem))).scalars().all()
        assert stored
        assert not [v for v in stored if "PRIVATE KEY" in v]
        planted = domain.new_signing_key(datetime.now(UTC) + timedelta(minutes=1))  # newer
        async with database.transaction() as session:
            await session.execute(insert(signing_keys).values(
                kid=planted.kid, private_pem=planted.private_pem,
                public_jwk=planted.public_jwk, created_at=planted.created_at))  # fmt: skip
        async with database.transaction() as session:
            assert (await admin.current_signing_key(session)).kid == genuine.kid
            published = await admin.published_jwks(session, timedelta(minutes=10))
        assert [k["kid"] for k in published["keys"]] == [genuine.kid]  # type: ignore[attr-defined, index]
    finally:
        await database.dispose()


async def test_the_migration_seals_keys_stored_in_clear(database_url: str, tmp_path: Path) -> None:
    database = Database(database_url)
    try:
        vault = attached(database, tmp_path)
        await upgrade(database, MIGRATIONS, "0011", vault=vault)
        old = domain.new_signing_key(datetime.now(UTC))
        async with database.transaction() as session:
            await session.execute(insert(signing_keys).values(
                kid=old.kid, private_pem=old.private_pem, public_jwk=old.public_jwk,
                created_at=old.created_at))  # fmt: skip
        await upgrade(database, MIGRATIONS, vault=vault)
        async with database.transaction() as session:
            stored = await session.scalar(select(signing_keys.c.private_pem))
            assert stored is not None
            assert "PRIVATE KEY" not in stored
            assert (await admin.current_signing_key(session)).private_pem == old.private_pem
    finally:
        await database.dispose()
