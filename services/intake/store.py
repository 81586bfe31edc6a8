"""Intake's tables and every query on them."""

from sqlalchemy import Column, ForeignKey, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.domain import Probe, ProbeAnswer
from shared.db import UtcDateTime, new_metadata

metadata = new_metadata()

probes = Table(
    "probes",
    metadata,
    Column("probe_id", String(64), primary_key=True),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("trace_id", String(32), nullable=True),
)

probe_answers = Table(
    "probe_answers",
    metadata,
    Column("probe_id", String(64), ForeignKey("probes.probe_id"), primary_key=True),
    Column("service", String(40), primary_key=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("trace_id", String(32), nullable=True),
)


async def add_probe(session: AsyncSession, probe: Probe) -> None:
    await session.execute(
        insert(probes).values(
            probe_id=probe.probe_id, requested_at=probe.requested_at, trace_id=probe.trace_id
        )
    )


async def add_probe_answer(session: AsyncSession, probe_id: str, answer: ProbeAnswer) -> None:
    await session.execute(
        insert(probe_answers).values(
            probe_id=probe_id,
            service=answer.service,
            received_at=answer.received_at,
            trace_id=answer.trace_id,
        )
    )


async def get_probe(session: AsyncSession, probe_id: str) -> Probe | None:
    row = (await session.execute(select(probes).where(probes.c.probe_id == probe_id))).first()
    if row is None:
        return None
    answers = await session.execute(
        select(probe_answers.c.service, probe_answers.c.received_at, probe_answers.c.trace_id)
        .where(probe_answers.c.probe_id == probe_id)
        .order_by(probe_answers.c.received_at)
    )
    return Probe(
        probe_id=row.probe_id,
        requested_at=row.requested_at,
        trace_id=row.trace_id,
        answers=tuple(ProbeAnswer(a.service, a.received_at, a.trace_id) for a in answers),
    )
