"""Probes, the receiving side every service shares: record that a probe arrived (with the
trace it arrived in) and, for services that publish, answer it on the bus.
"""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import insert, select

from shared.consumer import Handler
from shared.db import probe_receipts
from shared.events.platform import ProbeAnswered, ProbeRequested
from shared.events.registry import Event
from shared.http import problem
from shared.outbox import UnitOfWork
from shared.telemetry import current_trace_id
from shared.webapp import PlatformDep


def probe_receiver(service: str, *, answer: bool) -> Handler:
    """The handler of ``platform.probe.requested`` for ``service``."""

    async def on_probe_requested(uow: UnitOfWork, event: Event[Any]) -> None:
        probe: ProbeRequested = event.payload
        received_at = datetime.now(UTC)
        trace_id = current_trace_id()
        await uow.session.execute(
            insert(probe_receipts).values(
                probe_id=probe.probe_id,
                event_id=event.id,
                requested_at=probe.requested_at,
                received_at=received_at,
                trace_id=trace_id,
            )
        )
        if answer:
            reply = ProbeAnswered(
                probe_id=probe.probe_id, service=service, received_at=received_at, trace_id=trace_id
            )
            await uow.emit(reply, subject=None, time=received_at)

    return on_probe_requested


class ProbeReceipt(BaseModel):
    probe_id: str
    event_id: str
    requested_at: datetime
    received_at: datetime
    trace_id: str | None


receipts = APIRouter(prefix="/v1/diagnostics", tags=["diagnostics"])


@receipts.get("/probes/{probe_id}", response_model=ProbeReceipt, responses={404: {}})
async def get_receipt(probe_id: str, platform: PlatformDep) -> Any:
    """Whether this service has received a probe, when, and in which trace."""
    async with platform.database.reading() as session:
        row = (
            await session.execute(
                select(probe_receipts).where(probe_receipts.c.probe_id == probe_id)
            )
        ).first()
    if row is None:
        return problem(404, "Probe not received here", kind="not-found")
    return ProbeReceipt.model_validate(row._asdict())
