"""Identity tables and every query on them. Client secrets are stored only as argon2 hashes;
token signing keys only sealed with the vault (their public half too, so a key row written
into the database by anyone without the vault's key does not open and is never used)."""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, String, Table, Text, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.identity.domain import SIG, Client, SigningKey
from services.intake.store import metadata
from shared.access import Area, Role
from shared.db import UtcDateTime
from shared.vault import VaultError, vault_of

log = logging.getLogger(__name__)

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(40), primary_key=True),
    Column("agency", String(200), nullable=False),
    Column("role", String(40), nullable=False),
    Column("province", String(2), nullable=True),
    Column("ward", String(5), nullable=True),
    Column("secret_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("secret_rotated_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(40), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("retired_at", UtcDateTime(), nullable=True),
    # sig: signs tokens; enc: opens submissions. One table, so both are kept the same way.
    Column("use", String(3), nullable=False, server_default=SIG),
)


def _client(row: Any) -> Client:
    return Client(
        client_id=row.client_id,
        agency=row.agency,
        role=Role(row.role),
        area=Area(row.province, row.ward),
        active=row.active,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        secret_rotated_at=row.secret_rotated_at,
    )


async def add_client(session: AsyncSession, client: Client, secret_hash: str) -> None:
    await session.execute(
        insert(clients).values(
            client_id=client.client_id,
            agency=client.agency,
            role=str(client.role),
            province=client.area.province,
            ward=client.area.ward,
            secret_hash=secret_hash,
            active=client.active,
            created_at=client.created_at,
        )
    )


async def get_client(session: AsyncSession, client_id: str) -> Client | None:
    row = (await session.execute(select(clients).where(clients.c.client_id == client_id))).first()
    return _client(row) if row else None


async def get_credentials(session: AsyncSession, client_id: str) -> tuple[Client, str] | None:
    row = (await session.execute(select(clients).where(clients.c.client_id == client_id))).first()
    return (_client(row), row.secret_hash) if row else None


async def list_clients(session: AsyncSession) -> list[Client]:
    rows = await session.execute(select(clients).order_by(clients.c.created_at))
    return [_client(row) for row in rows]


async def revoked_client_ids(session: AsyncSession) -> dict[str, datetime]:
    rows = await session.execute(
        select(clients.c.client_id, clients.c.revoked_at).where(clients.c.active.is_(False))
    )
    return {row.client_id: row.revoked_at for row in rows}


async def revoke_client(session: AsyncSession, client_id: str, now: datetime) -> None:
    await session.execute(
        update(clients).where(clients.c.client_id == client_id).values(active=False, revoked_at=now)
    )


async def set_secret(
    session: AsyncSession, client_id: str, secret_hash: str, now: datetime
) -> None:
    await session.execute(
        update(clients)
        .where(clients.c.client_id == client_id)
        .values(secret_hash=secret_hash, secret_rotated_at=now)
    )


def signing_key_context(kid: str) -> str:
    return f"signing-key:{kid}"


async def signing_key_list(session: AsyncSession, use: str = SIG) -> list[SigningKey]:
    """Every key of a use that opens with the vault (one that does not is logged and left out)."""
    vault = vault_of(session)
    rows = await session.execute(
        select(signing_keys).where(signing_keys.c.use == use).order_by(signing_keys.c.created_at)
    )
    keys = []
    for r in rows:
        try:
            opened = vault.open(r.private_pem, signing_key_context(r.kid))
        except (VaultError, ValueError):
            log.error("signing key %s does not open with the vault: not used", r.kid)
            continue
        keys.append(
            SigningKey(r.kid, opened["pem"], opened["jwk"], r.created_at, r.retired_at, r.use)
        )
    return keys


async def add_signing_key(session: AsyncSession, key: SigningKey) -> None:
    sealed = vault_of(session).seal(
        {"pem": key.private_pem, "jwk": key.public_jwk}, signing_key_context(key.kid)
    )
    await session.execute(
        insert(signing_keys).values(
            kid=key.kid,
            private_pem=sealed,
            public_jwk=key.public_jwk,
            created_at=key.created_at,
            use=key.use,
        )
    )


async def retire_signing_keys(session: AsyncSession, kids: list[str], now: datetime) -> None:
    await session.execute(
        update(signing_keys).where(signing_keys.c.kid.in_(kids)).values(retired_at=now)
    )
