"""Integrators who read their own stream: the registry ``safereturn integrators`` keeps in
notify's database, and who of them gets a case event's public view.

Each integrator has one stream (``shared.names.integrator_stream``) that only its Redis user
may read. Notify writes to it through its outbox, in the transaction that handles the case
event, so the stream carries the event once in effect and only if the integrator may see it:
the person consented to sharing (``services.notify.public``), the case is in the
integrator's province (every province for a national one), and its type is one the
integrator chose. An integrator added later gets what happens from then on."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, String, Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import public
from services.notify.store import metadata
from shared.areas import province_codes
from shared.db import UtcDateTime, outbox
from shared.names import integrator_stream

integrators = Table(
    "integrators",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("province", String(2), nullable=True),
    Column("event_types", JSON, nullable=True),  # None: every type integrators may see
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

EVENT_TYPES = tuple(sorted(public.FIELDS))
"""What an integrator may choose from: every case event type that has a public view."""


@dataclass(frozen=True)
class Integrator:
    name: str
    province: str | None
    event_types: frozenset[str] | None
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def stream(self) -> str:
        return integrator_stream(self.name)

    @property
    def area(self) -> str:
        return f"province {self.province}" if self.province else "national"

    def sees(self, shown: Mapping[str, Any]) -> bool:
        """Whether this integrator gets the public view ``shown``."""
        area = self.province is None or self.province == shown["data"]["province"]
        wanted = self.event_types is None or shown["type"] in self.event_types
        return area and wanted


def asked(name: str, province: str | None, event_types: Iterable[str] | None) -> Integrator:
    """An integrator as asked for; ValueError saying what is wrong with the asking."""
    integrator_stream(name)
    if province is not None and province not in province_codes():
        raise ValueError(f"province {province!r}: not a 2025 province code (two digits)")
    types = None if event_types is None else frozenset(event_types)
    if types is not None:
        unknown = sorted(types - set(EVENT_TYPES))
        if unknown or not types:
            raise ValueError(f"events {', '.join(unknown) or '(none)'}: not shown to "
                              f"integrators; choose from {', '.join(EVENT_TYPES)}")  # fmt: skip
    return Integrator(name, province, types)


def _integrator(row: Any) -> Integrator:
    types = None if row.event_types is None else frozenset(row.event_types)
    return Integrator(row.name, row.province, types, row.created_at, row.revoked_at)


async def add(session: AsyncSession, integrator: Integrator, now: datetime) -> Integrator:
    """Register ``integrator`` (a revoked name may be taken again); LookupError if active."""
    row = (
        await session.execute(select(integrators).where(integrators.c.name == integrator.name))
    ).first()
    if row is not None and row.revoked_at is None:
        raise LookupError(f"integrator {integrator.name} exists: revoke it first")
    values = {
        "province": integrator.province,
        "event_types": None if integrator.event_types is None else sorted(integrator.event_types),
        "created_at": now,
        "revoked_at": None,
    }
    if row is None:
        await session.execute(insert(integrators).values(name=integrator.name, **values))
    else:
        await session.execute(
            update(integrators).where(integrators.c.name == integrator.name).values(**values)
        )
    return Integrator(integrator.name, integrator.province, integrator.event_types, now)


async def revoke(session: AsyncSession, name: str, now: datetime) -> bool | None:
    """Stop feeding the integrator's stream, and drop what was queued for it but not yet
    published (it would otherwise land on the stream after it is deleted, where a later
    integrator of that name would find it). True if it was active, False if already revoked,
    None if there is no such integrator."""
    await session.execute(
        delete(outbox).where(outbox.c.stream == integrator_stream(name),
                             outbox.c.published_at.is_(None))
    )  # fmt: skip
    done = await session.execute(
        update(integrators)
        .where(integrators.c.name == name, integrators.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if done.rowcount:  # type: ignore[attr-defined]
        return True
    known = await session.execute(select(integrators.c.name).where(integrators.c.name == name))
    return False if known.first() is not None else None


async def every(session: AsyncSession, *, revoked: bool = False) -> list[Integrator]:
    """Active integrators by name (and revoked ones too if asked)."""
    query = select(integrators).order_by(integrators.c.name)
    if not revoked:
        query = query.where(integrators.c.revoked_at.is_(None))
    return [_integrator(row) for row in (await session.execute(query)).all()]


async def readers(session: AsyncSession, shown: Mapping[str, Any]) -> list[Integrator]:
    """The active integrators who get the public view ``shown``."""
    province = shown["data"]["province"]
    query = select(integrators).where(
        integrators.c.revoked_at.is_(None),
        (integrators.c.province.is_(None)) | (integrators.c.province == province),
    )
    found = [_integrator(row) for row in (await session.execute(query)).all()]
    return [integrator for integrator in found if integrator.sees(shown)]
