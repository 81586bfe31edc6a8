"""Support's event handlers: the case facts the entitlement engine needs, from the case events."""

from typing import Any

from services.support import areas, store
from shared import cases
from shared.consumer import Subscription
from shared.diagnostics import probe_receiver
from shared.events.intake import CaseReceived
from shared.events.platform import ProbeRequested
from shared.events.registry import Event
from shared.events.verification import (
    CaseIdentificationAmended,
    CaseIdentified,
    CaseNotIdentified,
)
from shared.names import Service, Stream
from shared.outbox import UnitOfWork


async def on_case_received(uow: UnitOfWork, event: Event[Any]) -> None:
    case: CaseReceived = event.payload
    facts = {"case_id": case.case_id, "age": case.age,
             "accompanying_minors": case.accompanying_minors,
             "legacy_province": areas.former_province(case.ward),
             "legal_status": case.legal_status or legal_status_of(case.nationality),
             "abroad": case.abroad}  # fmt: skip
    await store.remember_case(uow.session, facts)


def legal_status_of(nationality: str | None) -> str | None:
    """For an event published before intake coded the legal status: its nationality tells a
    citizen from a foreigner (a stateless person is then recorded through the circumstances)."""
    if nationality is None:
        return None
    return "vietnamese" if nationality == "VN" else "foreign"


async def on_decision(uow: UnitOfWork, event: Event[Any]) -> None:
    """The identification date places the person's regime and opens the 12-month window. It
    follows the case's latest decision as the register ranks it (an amendment moves it, or
    removes it if the person is no longer a victim), whatever order the decisions arrive in."""
    case = await cases.registered(uow.session, event.payload.case_id)
    assert case is not None  # the register's own handler ran first, in this transaction
    await store.update_case(uow.session, case.case_id, identified_on=case.identified_on)


def subscriptions() -> list[Subscription]:
    on_probe = probe_receiver(Service.SUPPORT, answer=True)
    also = {
        CaseReceived.event_type: on_case_received,
        CaseIdentified.event_type: on_decision,
        CaseNotIdentified.event_type: on_decision,
        CaseIdentificationAmended.event_type: on_decision,
    }
    return [
        Subscription(Stream.PLATFORM, {ProbeRequested.event_type: on_probe}),
        cases.subscription(also),
    ]
