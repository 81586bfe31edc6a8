"""Support's event handlers: the case facts the entitlement engine needs, from the case events."""

from typing import Any

from services.support import areas, store
from shared import cases
from shared.consumer import Subscription
from shared.diagnostics import probe_receiver
from shared.events.intake import CaseReceived
from shared.events.platform import ProbeRequested
from shared.events.registry import Event
from shared.events.verification import CaseIdentificationAmended, CaseIdentified
from shared.names import Service, Stream
from shared.outbox import UnitOfWork


async def on_case_received(uow: UnitOfWork, event: Event[Any]) -> None:
    case: CaseReceived = event.payload
    facts = {"case_id": case.case_id, "age": case.age,
             "accompanying_minors": case.accompanying_minors,
             "legacy_province": areas.former_province(case.ward)}  # fmt: skip
    await store.remember_case(uow.session, facts)


async def on_identified(uow: UnitOfWork, event: Event[Any]) -> None:
    """The identification date places the person's regime and opens the 12-month window; an
    amendment moves it, or removes it if the person is no longer a victim."""
    decided: CaseIdentified | CaseIdentificationAmended = event.payload
    victim = isinstance(decided, CaseIdentified) or decided.outcome == "victim"
    day = decided.decided_on if victim else None
    await store.update_case(uow.session, decided.case_id, identified_on=day)


def subscriptions() -> list[Subscription]:
    on_probe = probe_receiver(Service.SUPPORT, answer=True)
    also = {
        CaseReceived.event_type: on_case_received,
        CaseIdentified.event_type: on_identified,
        CaseIdentificationAmended.event_type: on_identified,
    }
    return [
        Subscription(Stream.PLATFORM, {ProbeRequested.event_type: on_probe}),
        cases.subscription(also),
    ]
