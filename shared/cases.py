"""The case register every downstream service keeps from intake's case events.

Each service needs to know, for any case id, its area (to scope callers), its consent (to
obey it) and whether it was merged into another case (to follow and count the right one),
without ever asking intake. The register holds coded facts only.
"""

from collections.abc import Mapping
from datetime import UTC, date
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from shared.access import Principal
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
from shared.guard import ensure_area
from shared.http import problem
from shared.names import Stream
from shared.outbox import UnitOfWork
from shared.webapp import PlatformDep

STATUS = case(
    (case_register.c.merged_into.is_not(None), "merged"),
    (case_register.c.decision == "victim", "identified"),
    (case_register.c.decision == "not_victim", "not_identified"),
    (case_register.c.opened.is_(True), "being_identified"),
    else_="received",
)
"""A case's status follows from its facts, never from the order they arrived in."""


async def _record(
    session: AsyncSession,
    case_id: str,
    facts: Mapping[str, Any],
    only_if: ColumnElement[bool] | None = None,
) -> None:
    """Whichever event of a case comes first creates its row; each sets only its own facts."""
    first = upsert(session, case_register).values(case_id=case_id, status="received")
    await session.execute(first.on_conflict_do_nothing())
    this_case = case_register.c.case_id == case_id
    where = this_case if only_if is None else this_case & only_if
    await session.execute(update(case_register).where(where).values(**facts))
    await session.execute(update(case_register).where(this_case).values(status=STATUS))


async def on_case_received(uow: UnitOfWork, event: Event[Any]) -> None:
    received: CaseReceived = event.payload
    consent = received.consent
    await _record(uow.session, received.case_id, {
        "received_on": received.received_on,
        "province": received.province,
        "ward": received.ward,
        "consent_services": consent.services,
        "consent_information_sharing": consent.information_sharing,
        "consent_statistics": consent.statistics,
    })  # fmt: skip


async def on_case_merged(uow: UnitOfWork, event: Event[Any]) -> None:
    """A merge names the kept case, and the area for a report merged before it was received."""
    merged: CaseMerged = event.payload
    register = case_register.c
    await _record(uow.session, merged.case_id, {
        "merged_into": merged.into,
        "province": func.coalesce(register.province, merged.province),
        "ward": func.coalesce(register.ward, merged.ward),
    })  # fmt: skip


async def on_identification(uow: UnitOfWork, event: Event[Any]) -> None:
    """The register follows the latest decision by its own revision, not the latest to arrive."""
    decided: CaseIdentified | CaseNotIdentified | CaseIdentificationAmended = event.payload
    if isinstance(decided, CaseIdentificationAmended):
        outcome = decided.outcome
    else:
        outcome = "victim" if isinstance(decided, CaseIdentified) else "not_victim"
    rank = decision_rank(event)
    later = case_register.c.decision_rank.is_(None) | (case_register.c.decision_rank < rank)
    facts = {"decision": outcome, "decided_on": decided.decided_on, "decision_rank": rank}
    await _record(uow.session, decided.case_id, facts, only_if=later)


def decision_rank(event: Event[Any]) -> str:
    """Sorts a case's decisions: by revision, then business time, then id (stable on ties).

    Events from before revisions were carried rank a first decision below any amendment."""
    decided = event.payload
    revision = decided.revision or (2 if isinstance(decided, CaseIdentificationAmended) else 1)
    return f"{revision:08d}|{event.time.astimezone(UTC):%Y%m%dT%H%M%S%f}|{event.id}"


async def on_verification_opened(uow: UnitOfWork, event: Event[Any]) -> None:
    opened: VerificationOpened = event.payload
    await _record(uow.session, opened.case_id, {"opened": True})


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
    decision: str | None = None
    decided_on: date | None = None

    @property
    def received(self) -> bool:
        """Whether ``case.received`` was seen (a report merged at intake never is)."""
        return self.received_on is not None

    @property
    def identified_on(self) -> date | None:
        """The date of the latest decision, if it found a victim."""
        return self.decided_on if self.decision == "victim" else None


async def known_case(database: Database, case_id: str) -> KnownCase | None:
    async with database.reading() as session:
        return await registered(session, case_id)


async def registered(session: AsyncSession, case_id: str) -> KnownCase | None:
    """What the register holds of a case, read within the caller's transaction."""
    row = (
        await session.execute(select(case_register).where(case_register.c.case_id == case_id))
    ).first()
    return KnownCase.model_validate(row._asdict()) if row else None


async def case_to_act_on(
    database: Database, principal: Principal, case_id: str
) -> KnownCase | JSONResponse:
    """The case a request acts on, or the problem every service answers with: 404 if unknown
    here, 403 outside the caller's area, 409 if merged (naming the kept case only when the
    caller's area covers it)."""
    case = await known_case(database, case_id)
    if case is None or case.province is None or not (case.received or case.merged_into):
        return problem(404, "No such case here", kind="not-found")
    ensure_area(principal, case.province, case.ward, case_id)
    if case.merged_into is None:
        return case
    kept = await known_case(database, case.merged_into)
    visible = kept is not None and principal.area.covers(kept.province, kept.ward)
    follow = {"merged_into": case.merged_into} if visible else {}
    return problem(409, "The case was merged into another", kind="conflict", **follow)


register_api = APIRouter(prefix="/v1/diagnostics", tags=["diagnostics"])


@register_api.get("/cases/{case_id}", response_model=KnownCase, responses={404: {}})
async def get_known_case(case_id: str, platform: PlatformDep) -> Any:
    """What this service learned of a case from the case events (coded facts only)."""
    found = await known_case(platform.database, case_id)
    if found is None:
        return problem(404, "This service has not heard of the case", kind="not-found")
    return found
