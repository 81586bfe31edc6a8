"""Support applications, their stages and the grants that answer them: tables and every query
on them (support's other tables are in ``store``; the same metadata, the same migrations).
A stage moves only by a conditional update, so two officers or two timer replicas cannot both
complete it or both escalate it. The refusal's reason is free text, sealed like support's notes."""

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.support.applications import OPEN, StageStatus
from services.support.notes import context
from services.support.store import metadata
from shared.db import UtcDateTime
from shared.vault import vault_of

applications = Table(
    "applications",
    metadata,
    Column("application_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("beneficiary", String(20), nullable=False),
    Column("kinds", JSON, nullable=False),
    Column("regime", String(20), nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("received_by", String(200), nullable=False),  # the receiving agency, not a person
    Column("recorded_by", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("current_stage", String(40), nullable=True),
    Column("current_due_on", Date, nullable=True, index=True),
    Column("decided_on", Date, nullable=True),
    Column("refused_kinds", JSON, nullable=False),
    Column("decision_reason", Text, nullable=True),  # sealed
    Column("province", String(2), nullable=False),
    Column("ward", String(5), nullable=True),
)

application_stages = Table(
    "application_stages",
    metadata,
    Column("application_id", String(40), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("stage", String(40), nullable=False),
    Column("agency", String(60), nullable=False),
    Column("level", String(20), nullable=False),
    Column("days", Integer, nullable=False),
    Column("day_kind", String(20), nullable=False),
    Column("limit_known", Boolean, nullable=False),
    Column("escalates_to", String(60), nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_on", Date, nullable=True),
    Column("due_on", Date, nullable=True, index=True),
    Column("done_on", Date, nullable=True),
    Column("done_by", String(40), nullable=True),
    Column("overdue_at", UtcDateTime(), nullable=True),
)

application_grants = Table(
    "application_grants",
    metadata,
    Column("application_id", String(40), primary_key=True),
    Column("kind", String(40), primary_key=True),
    Column("grant_id", String(40), nullable=False),
    UniqueConstraint("grant_id"),  # a grant answers one application
)

REASON = "decision_reason"
UNFINISHED = (StageStatus.OPEN, StageStatus.OVERDUE)


def _seal(session: AsyncSession, application_id: str, reason: str | None) -> str | None:
    if reason is None:
        return None
    return vault_of(session).seal_text(reason, context("applications", REASON, application_id))


def _opened(session: AsyncSession, row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    values: dict[str, Any] = row._asdict()
    if values.get(REASON) is not None:
        where = context("applications", REASON, values["application_id"])
        values[REASON] = vault_of(session).open_text(values[REASON], where)
    return values


async def add_application(
    session: AsyncSession, values: Mapping[str, Any], stages: Sequence[Mapping[str, Any]]
) -> None:
    await session.execute(insert(applications).values(**values))
    await session.execute(insert(application_stages), list(stages))


async def application(session: AsyncSession, application_id: str) -> dict[str, Any] | None:
    rows = await session.execute(
        select(applications).where(applications.c.application_id == application_id)
    )
    return _opened(session, rows.first())


async def stages_of(session: AsyncSession, application_id: str) -> list[Any]:
    rows = await session.execute(
        select(application_stages)
        .where(application_stages.c.application_id == application_id)
        .order_by(application_stages.c.position)
    )
    return list(rows)


async def grants_linked(session: AsyncSession, application_id: str) -> dict[str, str]:
    rows = await session.execute(
        select(application_grants.c.kind, application_grants.c.grant_id).where(
            application_grants.c.application_id == application_id
        )
    )
    return {kind: grant_id for kind, grant_id in rows}


async def linked_elsewhere(session: AsyncSession, grant_ids: list[str]) -> set[str]:
    rows = await session.execute(
        select(application_grants.c.grant_id).where(application_grants.c.grant_id.in_(grant_ids))
    )
    return set(rows.scalars())


async def kinds_pending(session: AsyncSession, case_id: str, beneficiary: str) -> set[str]:
    """The kinds an undecided application of the beneficiary already asks for."""
    rows = await session.execute(
        select(applications.c.kinds).where(
            applications.c.case_id == case_id,
            applications.c.beneficiary == beneficiary,
            applications.c.status == OPEN,
        )
    )
    return {kind for kinds in rows.scalars() for kind in kinds}


async def complete_stage(
    session: AsyncSession, application_id: str, position: int, on: date, by: str
) -> bool:
    """Mark the stage done if it still runs; False if someone completed it first."""
    result = await session.execute(
        update(application_stages)
        .where(application_stages.c.application_id == application_id,
               application_stages.c.position == position,
               application_stages.c.status.in_(UNFINISHED))
        .values(status=StageStatus.DONE, done_on=on, done_by=by)
    )  # fmt: skip
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def open_stage(
    session: AsyncSession, application_id: str, position: int, started_on: date, due_on: date
) -> None:
    await session.execute(
        update(application_stages)
        .where(application_stages.c.application_id == application_id,
               application_stages.c.position == position)
        .values(status=StageStatus.OPEN, started_on=started_on, due_on=due_on)
    )  # fmt: skip


async def move_application(
    session: AsyncSession, application_id: str, values: Mapping[str, Any]
) -> None:
    values = dict(values)
    if REASON in values:
        values[REASON] = _seal(session, application_id, values[REASON])
    await session.execute(
        update(applications).where(applications.c.application_id == application_id).values(**values)
    )


async def link_grants(
    session: AsyncSession, application_id: str, linked: Mapping[str, str]
) -> None:
    if linked:
        rows = [{"application_id": application_id, "kind": k, "grant_id": g}
                for k, g in linked.items()]  # fmt: skip
        await session.execute(insert(application_grants), rows)


async def list_applications(
    session: AsyncSession,
    *,
    status: str | None,
    case_id: str | None,
    late_on: date | None,
    province: str | None,
    ward: str | None,
    limit: int = 500,
) -> list[Any]:
    """Applications within an area; ``late_on``: only those whose current stage is past its
    due date on that day. Soonest due first."""
    statement = select(*[c for c in applications.c if c.name != REASON])
    c = applications.c
    for column, value in ((c.status, status), (c.case_id, case_id), (c.province, province),
                          (c.ward, ward)):  # fmt: skip
        if value is not None:
            statement = statement.where(column == value)
    if late_on is not None:
        statement = statement.where(applications.c.current_due_on < late_on)
    order = (applications.c.current_due_on, applications.c.application_id)
    return list(await session.execute(statement.order_by(*order).limit(limit)))


async def stages_past(session: AsyncSession, day: date, limit: int) -> list[Any]:
    """Running stages whose last day is before ``day`` and not yet escalated, with their case."""
    rows = await session.execute(
        select(application_stages, applications.c.case_id, applications.c.regime,
               applications.c.province, applications.c.ward)
        .join(applications,
              applications.c.application_id == application_stages.c.application_id)
        .where(application_stages.c.status == StageStatus.OPEN,
               application_stages.c.due_on < day)
        .limit(limit)
    )  # fmt: skip
    return list(rows)


async def claim_overdue(
    session: AsyncSession, application_id: str, position: int, now: datetime
) -> bool:
    """Escalate a stage once: only the replica whose update finds it still open wins."""
    result = await session.execute(
        update(application_stages)
        .where(application_stages.c.application_id == application_id,
               application_stages.c.position == position,
               application_stages.c.status == StageStatus.OPEN)
        .values(status=StageStatus.OVERDUE, overdue_at=now)
    )  # fmt: skip
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def current_stages(session: AsyncSession) -> list[tuple[str, date]]:
    """The current stage and its due date of every undecided application."""
    rows = await session.execute(
        select(applications.c.current_stage, applications.c.current_due_on).where(
            applications.c.status == OPEN
        )
    )
    return [(stage, due) for stage, due in rows if stage is not None and due is not None]
