"""What an administrator does with clients and keys; used by the HTTP API and the CLI alike.

Revocation is kept in the database (the record) and mirrored to a Redis hash that every
service reads every few seconds, so a revoked client's tokens stop working at once.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.identity import domain, store
from services.intake.identity.domain import Client, IdentityError, SigningKey
from shared.events.envelope import format_time
from shared.names import REVOKED_CLIENTS


@dataclass(frozen=True, slots=True)
class Credentials:
    """A client and its secret: shown once, never stored."""

    client: Client
    secret: str


def _now() -> datetime:
    return datetime.now(UTC)


async def create_client(
    session: AsyncSession, agency: str, role: str, province: str | None, ward: str | None
) -> Credentials:
    client = domain.new_client(agency, role, province, ward, _now())
    secret = domain.new_secret()
    await store.add_client(session, client, domain.hash_secret(secret))
    return Credentials(client, secret)


async def _existing(session: AsyncSession, client_id: str) -> Client:
    client = await store.get_client(session, client_id)
    if client is None:
        raise LookupError(f"no client {client_id}")
    return client


async def revoke_client(session: AsyncSession, redis: "Redis", client_id: str) -> Client:
    """Revoke in the database, then tell every service through Redis."""
    client = await _existing(session, client_id)
    now = _now()
    if client.active:
        await store.revoke_client(session, client_id, now)
        await session.flush()
    await redis.hset(REVOKED_CLIENTS, client_id, format_time(client.revoked_at or now))
    return await _existing(session, client_id)


async def rotate_secret(session: AsyncSession, client_id: str) -> Credentials:
    client = await _existing(session, client_id)
    if not client.active:
        raise IdentityError("a revoked client cannot get a new secret")
    secret = domain.new_secret()
    await store.set_secret(session, client_id, domain.hash_secret(secret), _now())
    return Credentials(await _existing(session, client_id), secret)


async def publish_revocations(session: AsyncSession, redis: "Redis") -> int:
    """Make Redis agree with the database (on intake's start, after a Redis loss)."""
    revoked = await store.revoked_client_ids(session)
    if revoked:
        await redis.hset(
            REVOKED_CLIENTS,
            mapping={client_id: format_time(at) for client_id, at in revoked.items()},
        )
    return len(revoked)


async def rotate_keys(session: AsyncSession, use: str = domain.SIG) -> SigningKey:
    """A new signing (or encryption) key; older ones retire but are kept while their tokens
    may live (or submissions sealed to them may wait)."""
    now = _now()
    keys = await store.signing_key_list(session, use)
    current = [key.kid for key in keys if key.retired_at is None]
    key = domain.new_signing_key(now, use)
    await store.add_signing_key(session, key)
    if current:
        await store.retire_signing_keys(session, current, now)
    return key


async def current_signing_key(session: AsyncSession) -> SigningKey:
    """The key that signs new tokens, made on first use."""
    key = domain.signing_key(await store.signing_key_list(session))
    return key if key is not None else await rotate_keys(session)


async def encryption_key(session: AsyncSession) -> SigningKey | None:
    """The key agency systems encrypt submissions to, if there is one yet."""
    return domain.signing_key(await store.signing_key_list(session, domain.ENC))


async def current_encryption_key(session: AsyncSession) -> SigningKey:
    """The key agency systems encrypt submissions to, made on first use."""
    key = await encryption_key(session)
    return key if key is not None else await rotate_keys(session, domain.ENC)


async def opening_keys(session: AsyncSession, max_age: timedelta) -> list[SigningKey]:
    keys = await store.signing_key_list(session, domain.ENC)
    return domain.opening_keys(keys, _now(), max_age)


async def published_jwks(session: AsyncSession, token_ttl: timedelta) -> dict[str, object]:
    """Keys that verify tokens, and the one key to encrypt submissions to (``use: enc``)."""
    keys = domain.published_keys(await store.signing_key_list(session), _now(), token_ttl)
    sealing = await encryption_key(session)
    return {"keys": [key.public_jwk for key in [*keys, *([sealing] if sealing else [])]]}
