"""Operator commands that work on the services' databases directly (run on a trusted host):
clients, signing keys, migrations and audit-chain verification."""

import asyncio
import functools
import getpass
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.identity import admin, store
from services.intake.identity.domain import ENC, SIG, Client
from services.notify import directory
from services.notify import store as notify_store
from services.stats import projections, tallies
from services.stats import store as stats_store
from shared import audit
from shared.access import Role
from shared.audit import AuditRecord
from shared.db import Database
from shared.migrations import upgrade
from shared.names import Service
from shared.private import write_private
from shared.settings import settings_for
from shared.vault import Vault

Say = Callable[[str], None]


def migrations_of(service: str) -> Path:
    location: Path = import_module(f"services.{service}.app").MIGRATIONS
    return location


def vault_of(service: str, *, create: bool = True) -> Vault:
    """The service's keyring (sealing keys, audit chain key): never from its database."""
    settings = settings_for(service)
    return Vault.load(settings.vault_path, create=create and settings.vault_create)


def create_keyrings(say: Say, services: Iterable[Service]) -> None:
    """Each service's keyring made where its settings put it; one that exists is kept."""
    for service in services:
        path = settings_for(service).vault_path
        if path.exists():
            say(f"{service}: kept the keyring at {path}")
        else:
            Vault.write(path, Vault.new_keyring())
            say(f"{service}: made a keyring at {path} (owner-only; store it as a secret)")


def chain_key(service: str, *, create: bool = True) -> bytes:
    return vault_of(service, create=create).chain_key


@asynccontextmanager
async def database_of(service: str, *, migrate: bool = True) -> AsyncIterator[Database]:
    settings = settings_for(service)
    database = Database(settings.database, limits=settings.database_limits)
    database.attach_vault(functools.partial(vault_of, service))
    try:
        if migrate:
            await upgrade(database, migrations_of(service), vault=vault_of(service))
        yield database
    finally:
        await database.dispose()


@asynccontextmanager
async def intake() -> AsyncIterator[tuple[AsyncSession, Redis]]:
    """A transaction on intake's database and a Redis client, committed on success."""
    redis = Redis.from_url(settings_for(Service.INTAKE).redis_url)
    try:
        async with database_of(Service.INTAKE) as database, database.transaction() as session:
            yield session, redis
    finally:
        await redis.aclose()


def describe(client: Client) -> str:
    area = client.area
    scope = f"{area.level} {area.ward or area.province or ''}".strip()
    state = "active" if client.active else f"revoked {client.revoked_at:%Y-%m-%d %H:%M}"
    return f"{client.client_id}  {client.role:<16} {scope:<16} {state:<24} {client.agency}"


async def audit_operator(
    session: AsyncSession, action: str, subject: str, service: str = Service.INTAKE
) -> None:
    """Operator commands are writes like any other: on record, in the same transaction."""
    record = AuditRecord(
        at=datetime.now(UTC),
        service=service,
        action=f"safereturn {action}",
        outcome="success",
        status=0,
        role="admin",
        agency=f"operator {getpass.getuser()}@{socket.gethostname()}",
        reason=subject,
    )
    await audit.append(session, record, chain_key(service))


async def create_client(
    say: Say, agency: str, role: str, province: str | None, ward: str | None
) -> admin.Credentials:
    async with intake() as (session, _):
        credentials = await admin.create_client(session, agency, role, province, ward)
        await audit_operator(session, "clients create", f"client {credentials.client.client_id}")
    say(describe(credentials.client))
    say(f"client_id:     {credentials.client.client_id}")
    say(f"client_secret: {credentials.secret}")
    say("Keep the secret now: it is shown only once (only a hash is stored).")
    return credentials


def provision_service_client(service: str, path: Path) -> bool:
    """Give ``service`` its own client at intake (role ``service``), its credentials in a file
    only the owner reads; False if the file already exists."""
    if path.exists():
        return False
    credentials = asyncio.run(_service_client(service))
    secret = {"client_id": credentials.client.client_id, "client_secret": credentials.secret}
    write_private(path, json.dumps(secret))
    return True


async def _service_client(service: str) -> admin.Credentials:
    async with intake() as (session, _):
        credentials = await admin.create_client(
            session, f"SafeReturn {service} (service)", Role.SERVICE, None, None
        )
        await audit_operator(session, "clients create", f"client {credentials.client.client_id}")
    return credentials


async def list_clients(say: Say) -> None:
    async with intake() as (session, _):
        clients = await store.list_clients(session)
    for client in clients:
        say(describe(client))
    say(f"{len(clients)} client(s)")


async def revoke_client(say: Say, client_id: str) -> None:
    async with intake() as (session, redis):
        client = await admin.revoke_client(session, redis, client_id)
        await audit_operator(session, "clients revoke", f"client {client_id}")
    say(f"revoked {describe(client)}")


async def rotate_secret(say: Say, client_id: str) -> None:
    async with intake() as (session, _):
        credentials = await admin.rotate_secret(session, client_id)
        await audit_operator(session, "clients rotate-secret", f"client {client_id}")
    say(f"client_secret: {credentials.secret}")
    say("The old secret no longer works. Keep this one now: it is shown only once.")


async def rotate_keys(say: Say, *, encryption: bool = False) -> None:
    async with intake() as (session, _):
        key = await admin.rotate_keys(session, ENC if encryption else SIG)
        await audit_operator(session, "keys rotate", f"key {key.kid}")
    if encryption:
        say(f"new submission encryption key {key.kid}, published in the JWKS; the older one "
            "still opens submissions for SAFERETURN_INTAKE_SUBMISSION_MAX_AGE_S")  # fmt: skip
    else:
        say(f"new signing key {key.kid}; older keys stay published until their tokens expire")


async def migrate(say: Say, services: Sequence[str]) -> None:
    for service in services:
        async with database_of(service):
            say(f"{service}: migrated to head")


async def verify_audit(say: Say, services: Sequence[str]) -> bool:
    intact = True
    for service in services:
        async with (
            database_of(service, migrate=False) as database,
            database.reading() as session,
        ):
            report = await audit.verify(session, chain_key(service, create=False))
        if report.ok:
            say(f"{service:<13} audit chain intact ({report.records} records)")
        else:
            intact = False
            say(f"{service:<13} audit chain BROKEN at record {report.broken_at}: {report.problem}")
    return intact


async def rotate_vault_key(say: Say) -> None:
    """A new vault key becomes active, and every sealed value is sealed again with it."""
    from services.intake.reports.admission import reseal_all  # noqa: PLC0415
    from services.intake.reports.vault import Vault  # noqa: PLC0415
    from services.intake.settings import IntakeSettings  # noqa: PLC0415

    settings = IntakeSettings()
    kid = Vault.add_key(settings.vault_path)
    vault = Vault.load(settings.vault_path, create=False)
    async with database_of(Service.INTAKE) as database:
        changed = await reseal_all(database, vault)
        async with database.transaction() as session:
            await audit_operator(session, "vault rotate", f"key {kid}")
    say(f"vault key {kid} is active; {changed} sealed value(s) sealed again with it")
    say("Old keys stay in the keyring until you remove them after checking nothing uses them.")


async def add_agency(say: Say, values: dict[str, Any]) -> None:
    async with database_of(Service.NOTIFY) as database, database.transaction() as session:
        shown, secret = await directory.add(session, values)
        await audit_operator(
            session, "agencies add", f"agency {shown['agency_id']}", Service.NOTIFY
        )
    say(f"{shown['agency_id']}  {shown['kind']:<18} {shown['name']}")
    if secret:
        say(f"webhook_secret: {secret}  (shown only once)")


async def list_agencies(say: Say, province: str | None) -> None:
    async with database_of(Service.NOTIFY) as database, database.reading() as session:
        rows = await notify_store.list_agencies(session, province=province)
    for row in rows:
        channels = len(row.emails) + len(row.phones) + len(row.webhooks)
        area = row.ward or row.province or "national"
        say(f"{row.agency_id}  {row.kind:<18} {area:<8} {channels} channel(s)  {row.name}")


async def remove_agency(say: Say, agency_id: str) -> bool:
    async with database_of(Service.NOTIFY) as database, database.transaction() as session:
        removed = await notify_store.remove_agency(session, agency_id)
        if removed:
            await audit_operator(session, "agencies remove", f"agency {agency_id}", Service.NOTIFY)
    say(f"removed {agency_id}" if removed else f"no agency {agency_id}")
    return removed


async def replay_deliveries(say: Say, delivery_ids: Sequence[str] | None) -> None:
    async with database_of(Service.NOTIFY) as database, database.transaction() as session:
        count = await notify_store.replay(session, delivery_ids, datetime.now(UTC))
        await audit_operator(session, "notify replay", f"{count} deliveries", Service.NOTIFY)
    say(f"{count} failed deliveries queued again")


async def rebuild_stats(say: Say, page_size: int = 1000, every_s: float = 5.0) -> int:
    """Replay the whole archive into fresh projections, in one transaction, saying how far it
    got every ``every_s`` seconds."""
    count, started = 0, time.perf_counter()
    told = started
    async with database_of(Service.STATS) as database, database.transaction() as session:
        total = await stats_store.count_of(session, stats_store.ARCHIVED)  # cleared next
        await stats_store.clear_projections(session)
        after = 0
        while page := await stats_store.archive_page(session, after, page_size):
            await projections.project(session, [row.envelope for row in page])
            count, after = count + len(page), page[-1].seq
            if (now := time.perf_counter()) - told >= every_s:
                told = now
                say(f"… {count:,} of {total:,} events ({count / (now - started):,.0f}/s)")
        say("… every event projected; working out the form's sums")
        await tallies.rebuild(session)
        await audit_operator(session, "stats rebuild", f"{count} events", Service.STATS)
    elapsed = time.perf_counter() - started
    say(f"rebuilt the projections from {count} archived events in {elapsed:.2f} s "
        f"({count / elapsed if elapsed else 0:,.0f} events/s)")  # fmt: skip
    return count
