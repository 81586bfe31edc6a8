"""Verification's tables and every query on them; the shared plumbing tables (and the case
register) live in ``shared.db``."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
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

from shared.db import UtcDateTime, new_metadata

metadata = new_metadata()

tasks = Table(
    "tasks",
    metadata,
    Column("task_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False),
    Column("agencies", JSON, nullable=False),
    Column("level", String(20), nullable=False),
    Column("province", String(2), nullable=False),
    Column("ward", String(5), nullable=True),
    Column("received_on", Date, nullable=False),
    Column("due_on", Date, nullable=False, index=True),
    Column("legal_basis", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("reminded_at", UtcDateTime(), nullable=True),
    Column("overdue_at", UtcDateTime(), nullable=True),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("closed_because", String(20), nullable=True),
    Column("kind", String(20), nullable=False, server_default=text("'verification'")),
    Column("route", String(20), nullable=True),
    Column("step", String(40), nullable=True),  # the step under way; its due date is due_on
    Column("steps", JSON, nullable=True),  # the law's steps with their dates (none: before 0008)
    UniqueConstraint("case_id", "kind", name="uq_tasks_case_id_kind"),
)

VERIFICATION = "verification"
CHILD_RETURN = "child_return"
"""Task kinds: a case's verification, and a child victim's return (Law 53/2024 Art. 30)."""

decisions = Table(
    "decisions",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("outcome", String(20), nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("evidence", String(40), nullable=True),
    Column("corrections", JSON, nullable=False),
    Column("decided_by", String(40), nullable=False),
    Column("amendments", JSON, nullable=False),
)


protection_orders = Table(
    "protection_orders",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("measures", JSON, nullable=False),
    Column("protected", JSON, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=True),
    Column("ended_on", Date, nullable=True),
    Column("ordered_by", String(40), nullable=False),
)


async def add_order(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(protection_orders).values(**values))


async def order_of(session: AsyncSession, case_id: str, order_id: str) -> Any:
    rows = await session.execute(
        select(protection_orders).where(
            protection_orders.c.case_id == case_id, protection_orders.c.order_id == order_id
        )
    )
    return rows.first()


async def end_order(session: AsyncSession, order_id: str, ended_on: date) -> bool:
    result = await session.execute(
        update(protection_orders)
        .where(protection_orders.c.order_id == order_id, protection_orders.c.ended_on.is_(None))
        .values(ended_on=ended_on)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def orders_of(session: AsyncSession, case_id: str) -> list[Any]:
    rows = await session.execute(
        select(protection_orders).where(protection_orders.c.case_id == case_id)
    )
    return list(rows)


async def add_task(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(tasks).values(**values))


async def task_of(session: AsyncSession, case_id: str, kind: str = VERIFICATION) -> Any:
    rows = await session.execute(
        select(tasks).where(tasks.c.case_id == case_id, tasks.c.kind == kind)
    )
    return rows.first()


async def task_by_id(session: AsyncSession, task_id: str) -> Any:
    return (await session.execute(select(tasks).where(tasks.c.task_id == task_id))).first()


async def close_task(
    session: AsyncSession, case_id: str, because: str, now: datetime, kind: str | None = None
) -> None:
    """Close the case's unfinished tasks (of ``kind`` only, if given)."""
    conditions = [tasks.c.case_id == case_id, tasks.c.status.in_(["open", "overdue"])]
    if kind is not None:
        conditions.append(tasks.c.kind == kind)
    await session.execute(
        update(tasks)
        .where(*conditions)
        .values(status="closed", closed_at=now, closed_because=because)
    )


async def advance(session: AsyncSession, task_id: str, step: str, values: dict[str, Any]) -> bool:
    """Change an unfinished task only if ``step`` is still the one under way: of two agencies
    marking it done at once, one wins."""
    result = await session.execute(
        update(tasks)
        .where(tasks.c.task_id == task_id, tasks.c.step == step,
               tasks.c.status.in_(["open", "overdue"]))
        .values(**values)
    )  # fmt: skip
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_tasks(
    session: AsyncSession,
    status: str | None,
    province: str | None,
    ward: str | None,
    limit: int,
    *,
    kind: str | None = None,
) -> list[Any]:
    statement = select(tasks)
    if kind:
        statement = statement.where(tasks.c.kind == kind)
    if status:
        statement = statement.where(tasks.c.status == status)
    if province:
        statement = statement.where(tasks.c.province == province)
    if ward:
        statement = statement.where(tasks.c.ward == ward)
    rows = await session.execute(statement.order_by(tasks.c.due_on, tasks.c.task_id).limit(limit))
    return list(rows)


async def unfinished(session: AsyncSession) -> list[tuple[date, str, str]]:
    """Reception date, status and province of every verification task not closed."""
    rows = await session.execute(
        select(tasks.c.received_on, tasks.c.status, tasks.c.province).where(
            tasks.c.status.in_(["open", "overdue"]), tasks.c.kind == VERIFICATION
        )
    )
    return [(row.received_on, row.status, row.province) for row in rows]


async def open_past(session: AsyncSession, day: date, limit: int) -> list[Any]:
    rows = await session.execute(
        select(tasks).where(tasks.c.status == "open", tasks.c.due_on < day).limit(limit)
    )
    return list(rows)


async def to_remind(session: AsyncSession, until: date, limit: int) -> list[Any]:
    rows = await session.execute(
        select(tasks)
        .where(
            tasks.c.status == "open",
            tasks.c.reminded_at.is_(None),
            tasks.c.due_on <= until,
            tasks.c.kind == VERIFICATION,
        )
        .limit(limit)
    )
    return list(rows)


async def claim(
    session: AsyncSession, task_id: str, expected: str, step: str | None, values: dict[str, Any]
) -> bool:
    """Change a task only if it is still as we saw it (status and step under way): with several
    replicas, one wins, and a step done meanwhile is not escalated."""
    conditions = [tasks.c.task_id == task_id, tasks.c.status == expected]
    conditions.append(tasks.c.step.is_(None) if step is None else tasks.c.step == step)
    if "reminded_at" in values:
        conditions.append(tasks.c.reminded_at.is_(None))
    result = await session.execute(update(tasks).where(*conditions).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def decision_of(session: AsyncSession, case_id: str) -> Any:
    return (await session.execute(select(decisions).where(decisions.c.case_id == case_id))).first()


async def save_decision(session: AsyncSession, values: dict[str, Any], *, new: bool) -> None:
    if new:
        await session.execute(insert(decisions).values(**values))
    else:
        case_id = values.pop("case_id")
        await session.execute(
            update(decisions).where(decisions.c.case_id == case_id).values(**values)
        )
