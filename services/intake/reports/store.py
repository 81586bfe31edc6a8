"""Cases, persons and activities, and every query on them. Personal data is only ever
stored sealed (``sealed`` columns); coded facts are stored plain for routing and lookups."""

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.store import metadata
from shared.db import UtcDateTime

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("agency", String(200), nullable=False),
    Column("source_ref", String(100), nullable=False),
    Column("submitted_by", String(40), nullable=False),
    Column("channel", String(40), nullable=False),
    Column("reception_form", String(40), nullable=False),
    Column("received_on", Date, nullable=False),
    Column("province", String(2), nullable=False),
    Column("ward", String(5), nullable=True),
    Column("trafficking_scope", String(20), nullable=False),
    Column("destination_country", String(2), nullable=True),
    Column("purposes", JSON, nullable=False),
    Column("consent_services", Boolean, nullable=False),
    Column("consent_information_sharing", Boolean, nullable=False),
    Column("consent_statistics", Boolean, nullable=False),
    Column("consent_recorded_on", Date, nullable=False),
    Column("status", String(20), nullable=False),
    Column("sealed", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("agency", "source_ref", name="uq_cases_agency_source_ref"),
)

persons = Table(
    "persons",
    metadata,
    Column("person_id", String(40), primary_key=True),
    Column("case_id", String(40), ForeignKey("cases.case_id"), nullable=False, index=True),
    Column("role", String(20), nullable=False),
    Column("sex", String(10), nullable=False),
    Column("birth_date", Date, nullable=True),
    Column("age", Integer, nullable=True),
    Column("ethnicity", String(2), nullable=True),
    Column("nationality", String(2), nullable=True),
    Column("id_index", String(64), nullable=True, index=True),
    Column("sealed", Text, nullable=True),
)

activities = Table(
    "activities",
    metadata,
    Column("activity_id", String(40), primary_key=True),
    Column("agency", String(200), nullable=False),
    Column("submitted_by", String(40), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("held_on", Date, nullable=False),
    Column("province", String(2), nullable=False),
    Column("ward", String(5), nullable=True),
    Column("sessions", Integer, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("panels", Integer, nullable=False),
    Column("posters", Integer, nullable=False),
    Column("leaflets", Integer, nullable=False),
    Column("sealed", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)


async def case_by_source(session: AsyncSession, agency: str, source_ref: str) -> str | None:
    found = await session.scalar(
        select(cases.c.case_id).where(cases.c.agency == agency, cases.c.source_ref == source_ref)
    )
    return str(found) if found else None


async def add_case(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(cases).values(**values))


async def add_persons(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(persons), rows)


async def get_case(session: AsyncSession, case_id: str) -> Any:
    return (await session.execute(select(cases).where(cases.c.case_id == case_id))).first()


async def case_persons(session: AsyncSession, case_id: str) -> list[Any]:
    rows = await session.execute(
        select(persons).where(persons.c.case_id == case_id).order_by(persons.c.role.desc())
    )
    return list(rows)


async def add_activity(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(activities).values(**values))


async def activity_by_id(session: AsyncSession, activity_id: str) -> Any:
    rows = await session.execute(select(activities).where(activities.c.activity_id == activity_id))
    return rows.first()
