"""Intake's HTTP API."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from uuid6 import uuid7

from services.intake import store
from services.intake.domain import Probe
from shared.events.platform import ProbeRequested
from shared.http import problem
from shared.telemetry import current_trace_id
from shared.webapp import PlatformDep

router = APIRouter(prefix="/v1/diagnostics", tags=["diagnostics"])


class ProbeAnswerOut(BaseModel):
    service: str
    received_at: datetime
    seconds: float
    trace_id: str | None


class ProbeOut(BaseModel):
    probe_id: str
    requested_at: datetime
    trace_id: str | None
    complete: bool
    missing: list[str]
    answers: list[ProbeAnswerOut]

    @classmethod
    def of(cls, probe: Probe) -> "ProbeOut":
        seconds = probe.hop_seconds()
        return cls(
            probe_id=probe.probe_id,
            requested_at=probe.requested_at,
            trace_id=probe.trace_id,
            complete=probe.complete,
            missing=probe.missing,
            answers=[
                ProbeAnswerOut(
                    service=a.service,
                    received_at=a.received_at,
                    seconds=seconds[a.service],
                    trace_id=a.trace_id,
                )
                for a in probe.answers
            ],
        )


@router.post("/probes", status_code=202, response_model=ProbeOut)
async def request_probe(platform: PlatformDep) -> ProbeOut:
    """Send a probe through the platform; poll it to see every service answer."""
    probe = Probe(
        probe_id=str(uuid7()), requested_at=datetime.now(UTC), trace_id=current_trace_id()
    )
    async with platform.unit_of_work() as uow:
        await store.add_probe(uow.session, probe)
        await uow.emit(
            ProbeRequested(probe_id=probe.probe_id, requested_at=probe.requested_at),
            subject=None,
            time=probe.requested_at,
        )
    return ProbeOut.of(probe)


@router.get("/probes/{probe_id}", response_model=ProbeOut, responses={404: {}})
async def get_probe(probe_id: str, platform: PlatformDep) -> Any:
    """A probe and the answers received so far."""
    async with platform.database.reading() as session:
        probe = await store.get_probe(session, probe_id)
    if probe is None:
        return problem(404, "No such probe", kind="not-found")
    return ProbeOut.of(probe)
