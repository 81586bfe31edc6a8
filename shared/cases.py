"""The case register every downstream service keeps from intake's case events.

Each service needs to know, for any case id, its area (to scope callers), its consent (to
obey it) and whether it was merged into another case (to follow and count the right one),
without ever asking intake. The register holds coded facts only.
"""

from collections.abc import Mapping
from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select, update

from shared.consumer import Handler, Subscription
from shared.db import Database, case_register, upsert
from shared.events.intake import CaseMerged, CaseReceived
from shared.events.registry import Event
from shared.events.verification import (
    CaseIdentificationAmended,
    CaseIdentified,
    CaseNotIdentified,
    VerificationOpened,
)
from shared.http import problem
from shared.names import Stream
from shared.outbox import UnitOfWork
from shared.runtime import PlatformDep


async def on_case_received(uow: UnitOfWork, event: Event[Any]) -> None:
    case: CaseReceived = event.payload
    values = {
        "case_id": case.case_id,
        "received_on": case.received_on,
        "province": case.province,
        "ward": case.ward,
        "status": "received",
        "consent_services": case.consent.services,
        "consent_information_sharing": case.consent.information_sharing,
        "consent_statistics": case.consent.statistics,
    }
    insert = upsert(uow.session, case_register)
    # A merge may have arrived first (streams are ordered, replays are not): keep its status.
    await uow.session.execute(insert.values(values).on_conflict_do_nothing())


async def on_case_merged(uow: UnitOfWork, event: Event[Any]) -> None:
    merged: CaseMerged = event.payload
    insert = upsert(uow.session, case_register)
    await uow.session.execute(
        insert.values(
            case_id=merged.case_id, status="merged", merged_into=merged.into
        ).on_conflict_do_update(
            index_elements=[case_register.c.case_id],
            set_={"status": "merged", "merged_into": merged.into},
        )
    )


async def on_identification(uow: UnitOfWork, event: Event[Any]) -> None:
    """The register follows verification's decision, amendments included."""
    decided: CaseIdentified | CaseNotIdentified | CaseIdentificationAmended = event.payload
    if isinstance(decided, CaseIdentificationAmended):
        status = "identified" if decided.outcome == "victim" else "not_identified"
    else:
        status = "identified" if isinstance(decided, CaseIdentified) else "not_identified"
    await uow.session.execute(
        update(case_register)
        .where(case_register.c.case_id == decided.case_id, case_register.c.status != "merged")
        .values(status=status)
    )


async def on_verification_opened(uow: UnitOfWork, event: Event[Any]) -> None:
    opened: VerificationOpened = event.payload
    await uow.session.execute(
        update(case_register)
        .where(case_register.c.case_id == opened.case_id, case_register.c.status == "received")
        .values(status="being_identified")
    )


HANDLERS: dict[str, Handler] = {
    CaseReceived.event_type: on_case_received,
    CaseMerged.event_type: on_case_merged,
    VerificationOpened.event_type: on_verification_opened,
    CaseIdentified.event_type: on_identification,
    CaseNotIdentified.event_type: on_identification,
    CaseIdentificationAmended.event_type: on_identification,
}


def subscription(also: Mapping[str, Handler] | None = None) -> Subscription:
    """The case stream: the register is kept first, then ``also`` handles its types."""
    handlers = dict(HANDLERS)
    for event_type, handler in (also or {}).items():
        handlers[event_type] = (
            _chain(handlers[event_type], handler) if event_type in handlers else handler
        )
    return Subscription(Stream.CASES, handlers)


def _chain(first: Handler, then: Handler) -> Handler:
    async def both(uow: UnitOfWork, event: Event[Any]) -> None:
        await first(uow, event)
        await then(uow, event)

    return both


class KnownCase(BaseModel):
    case_id: str
    received_on: date | None
    province: str | None
    ward: str | None
    status: str
    merged_into: str | None
    consent_services: bool | None
    consent_information_sharing: bool | None
    consent_statistics: bool | None


async def known_case(database: Database, case_id: str) -> KnownCase | None:
    async with database.reading() as session:
        row = (
            await session.execute(select(case_register).where(case_register.c.case_id == case_id))
        ).first()
    return KnownCase.model_validate(row._asdict()) if row else None


register_api = APIRouter(prefix="/v1/diagnostics", tags=["diagnostics"])


@register_api.get("/cases/{case_id}", response_model=KnownCase, responses={404: {}})
async def get_known_case(case_id: str, platform: PlatformDep) -> Any:
    """What this service learned of a case from the case events (coded facts only)."""
    found = await known_case(platform.database, case_id)
    if found is None:
        return problem(404, "This service has not heard of the case", kind="not-found")
    return found
