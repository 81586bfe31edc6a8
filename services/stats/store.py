"""Stats' tables: the archive of every event (the system of record once Redis trims a stream)
and the projections the form is counted from. Projections are keyed by the events' own ids,
so applying an event twice changes nothing, and they can be dropped and rebuilt from the
archive. Each column is owned by one kind of event and whichever event of a row comes first
creates it (the others' columns empty), so the rows do not depend on the order of arrival."""

from collections.abc import Collection, Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    delete,
    exists,
    false,
    func,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from services.stats.domain import (
    Activity,
    Decision,
    Facts,
    Payment,
    Person,
    Protection,
    Support,
    absorbed,
    as_decided,
)
from shared.db import UtcDateTime, new_metadata, upsert

metadata = new_metadata()

archive = Table(
    "archive",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_key", String(300), nullable=False, unique=True),
    Column("event_id", String(100), nullable=False, index=True),
    Column("stream", String(100), nullable=False),
    Column("type", String(60), nullable=False),
    Column("subject", String(100), nullable=True),
    Column("time", UtcDateTime(), nullable=False),
    Column("envelope", JSON, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

persons = Table(
    "persons",
    metadata,
    Column("case_id", String(40), primary_key=True),
    # The reception's facts (case.received): empty until it is seen, and then counted.
    Column("received_on", Date, nullable=True, index=True),
    Column("province", String(2), nullable=True, index=True),
    Column("ward", String(5), nullable=True),
    Column("sex", String(10), nullable=True),
    Column("age", Integer, nullable=True),
    Column("ethnicity", String(2), nullable=True),
    Column("nationality", String(2), nullable=True),
    Column("scope", String(10), nullable=True),  # as reported; decisions may correct it
    Column("destination", String(2), nullable=True),
    Column("reception_form", String(30), nullable=True),
    Column("purposes", JSON, nullable=True),  # purposes of exploitation, as reported
    Column("consent_statistics", Boolean, nullable=True),
    Column("merged_into", String(40), nullable=True, index=True),  # case.merged
    Column("overdue", Boolean, nullable=False, server_default=false()),  # verification.overdue
)

decisions = Table(
    "decisions",
    metadata,
    Column("event_id", String(100), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("decided_on", Date, nullable=False),
    Column("revision", Integer, nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("victim", Boolean, nullable=False),
    Column("scope", String(10), nullable=True),
    Column("destination", String(2), nullable=True),
)

activities = Table(
    "activities",
    metadata,
    Column("activity_id", String(40), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("held_on", Date, nullable=False, index=True),
    Column("province", String(2), nullable=False, index=True),
    Column("ward", String(5), nullable=True),
    Column("sessions", Integer, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("panels", Integer, nullable=False),
    Column("posters", Integer, nullable=False),
    Column("leaflets", Integer, nullable=False),
)

protections = Table(
    "protections",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("starts_on", Date, nullable=False),
    Column("persons", Integer, nullable=False),
)

supports = Table(
    "supports",
    metadata,
    Column("support_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("on", Date, nullable=True),  # the grant's (or referral's): counted once known
    Column("granted", Boolean, nullable=True),  # approved when granted
    Column("approved", Boolean, nullable=True),  # a later approval (true) or rejection (false)
)

payments = Table(
    "payments",
    metadata,
    Column("disbursement_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("funding_source", String(100), nullable=False),
    Column("province", String(2), nullable=False),
    Column("ward", String(5), nullable=True),
)

PROJECTIONS = (persons, decisions, activities, protections, supports, payments)

# The form's sums by area, day and row (services.stats.tallies): what the counted persons,
# activities and payments contribute (services.stats.contributions), added up.
# ``area`` is "" (national), "p<province>", or "w<province><ward>" ("-" for no ward known).
tallies = Table(
    "tallies",
    metadata,
    Column("area", String(8), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last", Date, primary_key=True),  # the day again, or a span's last day
    Column("row", String(40), primary_key=True),
    Column("n", BigInteger, nullable=False),
    Index("ix_tallies_day", "day"),  # every smallest area of a year (the open aggregates)
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
ARCHIVED = "archived"  # events in the archive (a count(*) would read all of it)

DERIVED = (tallies, counters)


async def archived(session: AsyncSession, values: Mapping[str, Any]) -> bool:
    """Keep the event; False if it was already archived (a redelivery, or a rebuild)."""
    statement = upsert(session, archive).values(**values).on_conflict_do_nothing()
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def clear_projections(session: AsyncSession) -> None:
    for table in (*PROJECTIONS, *DERIVED):
        await session.execute(delete(table))


async def archive_page(session: AsyncSession, after: int, limit: int) -> list[Any]:
    rows = await session.execute(
        select(archive).where(archive.c.seq > after).order_by(archive.c.seq).limit(limit)
    )
    return list(rows)


async def as_of(session: AsyncSession) -> dict[str, Any]:
    """How much the answer reflects: events archived, the last one's sequence and time."""
    last = (await session.execute(
        select(archive.c.seq, archive.c.recorded_at).order_by(archive.c.seq.desc()).limit(1)
    )).first()  # fmt: skip
    events = await count_of(session, ARCHIVED)
    return {"events": events, "last_seq": last.seq if last else 0,
            "last_recorded_at": last.recorded_at.isoformat() if last else None}  # fmt: skip


async def count_of(session: AsyncSession, name: str) -> int:
    """A kept count's value (0 if never counted)."""
    value = await session.scalar(select(counters.c.value).where(counters.c.name == name))
    return int(value or 0)


async def count(session: AsyncSession, name: str, by: int) -> None:
    statement = upsert(session, counters).values(name=name, value=by)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[counters.c.name], set_={"value": counters.c.value + by}
    ))  # fmt: skip


async def verifications(session: AsyncSession, province: str | None) -> tuple[int, int]:
    """Verifications still open, and how many of them are past their legal limit."""
    undecided = ~exists().where(decisions.c.case_id == persons.c.case_id)
    conditions: list[ColumnElement[bool]] = [
        persons.c.received_on.is_not(None), persons.c.merged_into.is_(None), undecided
    ]  # fmt: skip
    if province:
        conditions.append(persons.c.province == province)
    row = (await session.execute(
        select(func.count(), func.count().filter(persons.c.overdue.is_(True))).where(*conditions)
    )).one()  # fmt: skip
    return int(row[0]), int(row[1])


async def archived_of(session: AsyncSession, event_ids: Iterable[str]) -> list[str]:
    """Which of these events are archived."""
    chosen = select(archive.c.event_id).where(archive.c.event_id.in_(list(event_ids)))
    return list((await session.scalars(chosen.distinct())).all())


async def facts(session: AsyncSession, province: str | None, ward: str | None) -> Facts:
    """The projected facts of an area (national when both are None)."""

    def area(table: Table) -> list[ColumnElement[bool]]:
        conditions = []
        if province:
            conditions.append(table.c.province == province)
        if ward:
            conditions.append(table.c.ward == ward)
        return conditions

    merges = {row.case_id: row.merged_into for row in await session.execute(
        select(persons.c.case_id, persons.c.merged_into).where(
            persons.c.merged_into.is_not(None)))}  # fmt: skip
    fields = [c for c in persons.c if c.name != "overdue"]
    found = await session.execute(
        select(*fields).where(persons.c.received_on.is_not(None), *area(persons))
    )
    reported = [person_of(row._asdict()) for row in found]
    ids = absorbed((p.case_id for p in reported), merges)

    def of_area(column: Column[str]) -> ColumnElement[bool]:
        # Nationally every fact counts (the form drops those of no counted case): no id list.
        return column.in_(ids) if province or ward else true()

    made = [Decision(**row._asdict()) for row in await session.execute(
        select(decisions).where(of_area(decisions.c.case_id)))]  # fmt: skip
    acts = await session.execute(
        select(activities.c.kind, activities.c.held_on, activities.c.sessions,
               activities.c.participants, activities.c.panels, activities.c.posters,
               activities.c.leaflets, activities.c.province, activities.c.ward
               ).where(*area(activities))
    )  # fmt: skip
    orders = await session.execute(
        select(protections.c.case_id, protections.c.starts_on, protections.c.persons).where(
            of_area(protections.c.case_id)
        )
    )
    effective = EFFECTIVE
    helped = await session.execute(
        select(supports.c.case_id, supports.c.kind, supports.c["on"]).where(
            of_area(supports.c.case_id), supports.c["on"].is_not(None), effective
        )
    )
    paid = await session.execute(
        select(payments.c.kind, payments.c.paid_on, payments.c.amount,
               payments.c.funding_source, payments.c.province, payments.c.ward
               ).where(*area(payments))
    )  # fmt: skip
    return Facts(
        persons=as_decided(reported, made, merges),
        activities=tuple(Activity(*row) for row in acts),
        protections=tuple(Protection(*row) for row in orders),
        supports=tuple(Support(*row) for row in helped),
        payments=tuple(Payment(*row) for row in paid),
        merges=tuple(sorted(merges.items())),
    )


def person_of(row: dict[str, Any]) -> Person:
    """A received person as the form sees them, before any decision."""
    purposes = tuple(row.pop("purposes", None) or ())
    return Person(merged=row.pop("merged_into") is not None, purposes=purposes, **row)


# --- the facts of given cases, activities and payments (services.stats.tallies) ---------------


async def decisions_of(session: AsyncSession, cases: Collection[str]) -> list[Decision]:
    found = await session.execute(select(decisions).where(decisions.c.case_id.in_(cases)))
    return [Decision(**row._asdict()) for row in found]


async def protections_of(session: AsyncSession, cases: Collection[str]) -> list[Protection]:
    p = protections
    found = await session.execute(
        select(p.c.case_id, p.c.starts_on, p.c.persons).where(p.c.case_id.in_(cases))
    )
    return [Protection(*row) for row in found]


EFFECTIVE = func.coalesce(supports.c.approved, supports.c.granted).is_(True)
"""A grant counts once approved (when granted, or later), never once rejected."""


async def supports_of(session: AsyncSession, cases: Collection[str]) -> list[Support]:
    s = supports
    found = await session.execute(
        select(s.c.case_id, s.c.kind, s.c["on"]).where(
            s.c.case_id.in_(cases), s.c["on"].is_not(None), EFFECTIVE
        )
    )
    return [Support(*row) for row in found]


async def activities_of(session: AsyncSession, ids: Collection[str]) -> list[tuple[str, Activity]]:
    a = activities
    found = await session.execute(
        select(a.c.activity_id, a.c.kind, a.c.held_on, a.c.sessions, a.c.participants,
               a.c.panels, a.c.posters, a.c.leaflets, a.c.province, a.c.ward
               ).where(a.c.activity_id.in_(ids))
    )  # fmt: skip
    return [(row.activity_id, Activity(**_without(row._asdict(), "activity_id"))) for row in found]


async def payments_of(session: AsyncSession, ids: Collection[str]) -> list[tuple[str, Payment]]:
    p = payments
    found = await session.execute(
        select(p.c.disbursement_id, p.c.kind, p.c.paid_on, p.c.amount, p.c.funding_source,
               p.c.province, p.c.ward).where(p.c.disbursement_id.in_(ids))
    )  # fmt: skip
    return [
        (row.disbursement_id, Payment(**_without(row._asdict(), "disbursement_id")))
        for row in found
    ]


def _without(values: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != key}


def on_or_none(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


async def verifications_by_province(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Verifications still open, and those past their legal limit, in each province."""
    undecided = ~exists().where(decisions.c.case_id == persons.c.case_id)
    found = await session.execute(
        select(persons.c.province, func.count(), func.count().filter(persons.c.overdue.is_(True)))
        .where(persons.c.received_on.is_not(None), persons.c.merged_into.is_(None), undecided)
        .group_by(persons.c.province)
    )
    return {str(row[0]): {"open": int(row[1]), "overdue": int(row[2])} for row in found}
