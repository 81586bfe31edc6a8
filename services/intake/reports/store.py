"""Cases, persons and activities, and every query on them. Personal data is only ever
stored sealed (``sealed`` columns); coded facts are stored plain for routing and lookups."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    text,
    update,
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
    Column("left_on", Date, nullable=True),
    Column("returned_on", Date, nullable=True),
    Column("consent_services", Boolean, nullable=False),
    Column("consent_information_sharing", Boolean, nullable=False),
    Column("consent_statistics", Boolean, nullable=False),
    Column("consent_recorded_on", Date, nullable=False),
    Column("status", String(20), nullable=False),
    Column("merged_into", String(40), nullable=True),
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
    Column("birth_date", Date, nullable=True, index=True),
    Column("age", Integer, nullable=True),
    Column("ethnicity", String(2), nullable=True),
    Column("nationality", String(2), nullable=True),
    Column("id_index", String(64), nullable=True, index=True),
    Column("sealed", Text, nullable=True),
)

duplicates = Table(
    "duplicates",
    metadata,
    Column("case_id", String(40), ForeignKey("cases.case_id"), primary_key=True),
    Column("candidate_case_id", String(40), ForeignKey("cases.case_id"), primary_key=True),
    Column("score", Float, nullable=False),
    Column("status", String(20), nullable=False),
    Column("flagged_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("decided_by", String(40), nullable=True),
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

submission_entries = Table(
    "submission_entries",
    metadata,
    Column("entry_id", String(40), primary_key=True),  # the stream entry: one outcome each
    Column("outcome", String(20), nullable=False),
    Column("processed_at", UtcDateTime(), nullable=False),
)

submission_ids = Table(
    "submission_ids",
    metadata,
    Column("agency", String(200), primary_key=True),
    Column("submission_key", String(64), primary_key=True),  # sha256 of (source, id)
    Column("fingerprint", String(64), nullable=False),  # sha256 of the validated content
    Column("subject", String(40), nullable=False),
    Column("entry_id", String(40), nullable=False),
    Column("admitted_at", UtcDateTime(), nullable=False),
)


async def entry_outcome(session: AsyncSession, entry_id: str) -> str | None:
    """How a stream entry was settled, if it was: its effect is committed already."""
    found = await session.scalar(
        select(submission_entries.c.outcome).where(submission_entries.c.entry_id == entry_id)
    )
    return str(found) if found else None


async def settle_entry(session: AsyncSession, entry_id: str, outcome: str, now: datetime) -> None:
    """Record the entry's outcome with its effect; a second settlement fails the transaction."""
    await session.execute(
        insert(submission_entries).values(entry_id=entry_id, outcome=outcome, processed_at=now)
    )


async def admitted_submission(session: AsyncSession, agency: str, key: str) -> Any:
    rows = await session.execute(
        select(submission_ids).where(
            submission_ids.c.agency == agency, submission_ids.c.submission_key == key
        )
    )
    return rows.first()


async def add_admitted_submission(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(submission_ids).values(**values))


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


async def lock_person(session: AsyncSession, id_index: str) -> None:
    """Serialise admissions of one ID number until commit, so two reports of the same person
    at the same moment cannot both miss each other. SQLite writers are serial already."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": id_index}
        )


async def cases_with_id_index(
    session: AsyncSession, id_index: str, case_id: str, limit: int = 20
) -> list[Any]:
    """Open cases (id, province, ward) whose subject has this ID number (by blind index),
    oldest first."""
    rows = await session.execute(
        select(cases.c.case_id, cases.c.province, cases.c.ward)
        .join(persons, persons.c.case_id == cases.c.case_id)
        .where(
            persons.c.id_index == id_index,
            persons.c.role == "subject",
            cases.c.case_id != case_id,
            cases.c.status != "merged",
        )
        .order_by(cases.c.created_at)
        .limit(limit)
    )
    return list(rows)


async def case_areas(session: AsyncSession, case_ids: set[str]) -> dict[str, tuple[str, Any]]:
    """The province and commune of each of these cases."""
    if not case_ids:
        return {}
    rows = await session.execute(
        select(cases.c.case_id, cases.c.province, cases.c.ward).where(
            cases.c.case_id.in_(sorted(case_ids))
        )
    )
    return {row.case_id: (row.province, row.ward) for row in rows}


async def look_alikes(
    session: AsyncSession, case_id: str, birth_date: Any, province: str
) -> list[Any]:
    """Every open case in the same province whose subject has the same birth date: all of them,
    however many records of unknown birthdays share one 01/01 (an index on the birth date keeps
    the read to those)."""
    rows = await session.execute(
        select(cases.c.case_id, cases.c.sealed)
        .join(persons, persons.c.case_id == cases.c.case_id)
        .where(
            persons.c.birth_date == birth_date,
            persons.c.role == "subject",
            cases.c.province == province,
            cases.c.case_id != case_id,
            cases.c.status != "merged",
        )
        .order_by(cases.c.created_at)
    )
    return list(rows)


async def set_status(
    session: AsyncSession, case_id: str, status: str, merged_into: str | None = None
) -> None:
    await session.execute(
        update(cases)
        .where(cases.c.case_id == case_id)
        .values(status=status, merged_into=merged_into)
    )


async def follow_status(session: AsyncSession, case_id: str, status: str) -> None:
    """A status learned from verification; a merged case stays merged."""
    await session.execute(
        update(cases).where(cases.c.case_id == case_id, cases.c.status != "merged")
        .values(status=status)
    )  # fmt: skip


async def add_duplicate(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(duplicates).values(**values))


async def case_duplicates(session: AsyncSession, case_id: str) -> list[Any]:
    rows = await session.execute(
        select(duplicates).where(
            (duplicates.c.case_id == case_id) | (duplicates.c.candidate_case_id == case_id)
        )
    )
    return list(rows)


async def duplicates_within(
    session: AsyncSession, status: str, province: str | None, ward: str | None, limit: int
) -> list[Any]:
    """Suspected duplicates whose two cases both lie within an area, oldest first."""
    first, second = cases.alias("first"), cases.alias("second")
    query = (
        select(duplicates)
        .join(first, first.c.case_id == duplicates.c.case_id)
        .join(second, second.c.case_id == duplicates.c.candidate_case_id)
        .where(duplicates.c.status == status)
        .order_by(duplicates.c.flagged_at, duplicates.c.case_id)
        .limit(limit)
    )
    if province is not None:
        query = query.where(first.c.province == province, second.c.province == province)
    if ward is not None:
        query = query.where(first.c.ward == ward, second.c.ward == ward)
    return list(await session.execute(query))


async def decide_duplicate(
    session: AsyncSession, case_id: str, candidate: str, status: str, values: dict[str, Any]
) -> int:
    result = await session.execute(
        update(duplicates)
        .where(
            duplicates.c.case_id == case_id,
            duplicates.c.candidate_case_id == candidate,
            duplicates.c.status == "suspected",
        )
        .values(status=status, **values)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def merge(session: AsyncSession, case_id: str, into: str) -> bool:
    """Merge an open case into another open case (never into a merged one: no chains)."""
    target_open = await session.scalar(
        select(cases.c.case_id).where(cases.c.case_id == into, cases.c.status != "merged")
    )
    if target_open is None:
        return False
    result = await session.execute(
        update(cases)
        .where(cases.c.case_id == case_id, cases.c.status != "merged")
        .values(status="merged", merged_into=into)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def close_duplicates(session: AsyncSession, case_id: str, values: dict[str, Any]) -> None:
    """Once a case is merged, its other open suspicions have nothing left to decide."""
    await session.execute(
        update(duplicates)
        .where(
            (duplicates.c.case_id == case_id) | (duplicates.c.candidate_case_id == case_id),
            duplicates.c.status == "suspected",
        )
        .values(status="moot", **values)
    )


SEALED_TABLES = (cases, activities)


async def sealed_values(session: AsyncSession, table: Table, after: str, limit: int) -> list[Any]:
    key = table.primary_key.columns.values()[0]
    rows = await session.execute(
        select(key.label("id"), table.c.sealed)
        .where(key > after, table.c.sealed.is_not(None))
        .order_by(key)
        .limit(limit)
    )
    return list(rows)


async def reseal(session: AsyncSession, table: Table, row_id: str, sealed: str) -> None:
    key = table.primary_key.columns.values()[0]
    await session.execute(update(table).where(key == row_id).values(sealed=sealed))
