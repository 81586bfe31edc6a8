"""Notify's event handlers: each case event → its recipients, recorded in the delivery log in
the event's own transaction (so a redelivered event adds nothing); the worker sends them."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from services.notify import domain, integrators, public, store
from services.notify.domain import Agency, Route, Subscriber
from shared import cases
from shared.consumer import Handler, Subscription
from shared.db import case_register
from shared.diagnostics import probe_receiver
from shared.events import REGISTRY
from shared.events.intake import CaseMerged, CaseReceived
from shared.events.platform import ProbeRequested
from shared.events.registry import Event
from shared.names import Service, Stream
from shared.outbox import TRACE_EXTENSIONS, UnitOfWork

ADULT_AGE = 18


def envelope(event: Event[Any]) -> dict[str, Any]:
    """The CloudEvent as structured JSON (the data holds no PII), with its trace context: the
    delivery continues the trace."""
    trace_context = {name: str(value) for name in TRACE_EXTENSIONS
                     if (value := event.envelope.get_extension(name))}  # fmt: skip
    return {
        "specversion": "1.0", "id": event.id, "source": event.source, "type": event.type,
        "subject": event.subject, "time": event.time.isoformat(),
        "datacontenttype": "application/json", "data": event.payload.model_dump(mode="json"),
        **trace_context,
    }  # fmt: skip


async def context_of(
    session: AsyncSession, data: dict[str, Any], subject: str | None
) -> dict[str, Any]:
    """The event's fields with the case's area, consent and childhood from the register."""
    case_id = data.get("case_id") or subject
    context = dict(data) | {"case_id": case_id}
    if case_id is None:
        return context
    rows = await session.execute(select(case_register).where(case_register.c.case_id == case_id))
    case = rows.first()
    if case is not None:
        context.setdefault("province", case.province)
        context.setdefault("ward", case.ward)
        context["consent_services"] = case.consent_services
        context["consent_information_sharing"] = case.consent_information_sharing
    context["child"] = bool(data.get("child")) or await store.is_child(session, case_id)
    return context


def route(routes: list[Route]) -> Handler:
    async def on_event(uow: UnitOfWork, event: Event[Any]) -> None:
        session = uow.session
        message = envelope(event)
        case_id = message["data"].get("case_id") or event.subject
        if isinstance(event.payload, CaseReceived):
            case: CaseReceived = event.payload
            child = (case.age is not None and case.age < ADULT_AGE) or case.accompanying_minors > 0
            await store.remember_child(session, case.case_id, child)
            await _plan(uow, routes, message)
            for key, waiting in await store.unpark(session, case.case_id):
                await _plan(uow, routes, waiting, public_only=key.endswith(PUBLIC_ONLY))
        elif case_id is None or await _routable(session, case_id, message):
            await _plan(uow, routes, message)
            if case_id is not None and not await _received(session, case_id):
                # Agencies heard now; integrators only once the case's consent is known.
                await store.park(session, _event_key(message) + PUBLIC_ONLY, case_id, message)
        else:
            await store.park(session, _event_key(message), case_id, message)

    return on_event


PUBLIC_ONLY = "#public"
"""Suffix of a parked event that agencies already heard of and integrators wait for."""


async def _received(session: AsyncSession, case_id: str) -> bool:
    case = await cases.registered(session, case_id)
    return case is not None and case.received


async def _routable(session: AsyncSession, case_id: str, message: dict[str, Any]) -> bool:
    """Recipients follow the case's area, consent and childhood, which ``case.received``
    brings: an event that overtook it waits for it. A report merged at intake is never
    received; its merge names its own area."""
    if await _received(session, case_id):
        return True
    return message["type"] == CaseMerged.event_type and bool(message["data"].get("province"))


async def _plan(
    uow: UnitOfWork, routes: list[Route], message: dict[str, Any], *, public_only: bool = False
) -> None:
    """Record one delivery per recipient of the event, in the event's own transaction, and
    queue its public view (if integrators may see it) for each integrator stream it belongs on."""
    session = uow.session
    context = await context_of(session, message["data"], message["subject"])
    shown = public.view(message, context)
    directory = [] if public_only else await store.agencies_in(session, context.get("province"))
    subscribers = await store.subscriptions_of(session, None) if shown is not None else []
    found = domain.targets([] if public_only else routes, message["type"], context,
                           [_agency(row) for row in directory],
                           [_subscriber(row) for row in subscribers])  # fmt: skip
    now = datetime.now(UTC)
    rows = [
        {"delivery_id": str(uuid7()), "event_key": _event_key(message),
         "recipient_key": target.recipient_key, "event_type": message["type"],
         "case_id": context.get("case_id"), "province": context.get("province"),
         "recipient": target.recipient, "recipient_name": target.name,
         "channel": target.channel, "address": target.address, "language": target.language,
         "event": shown if target.recipient == domain.INTEGRATOR else message,
         "status": "pending", "attempts": 0, "next_attempt_at": now, "recorded_at": now}
        for target in found
    ]  # fmt: skip
    await store.add_deliveries(session, rows)
    if shown is not None:
        for integrator in await integrators.readers(session, shown):
            await uow.forward(integrator.stream, public.fields(shown))


def _event_key(message: dict[str, Any]) -> str:
    return f"{message['source']}#{message['id']}"


def _agency(row: Any) -> Agency:
    return Agency(row.agency_id, row.name, row.kind, row.province, row.ward, tuple(row.emails),
                  tuple(row.phones), tuple(row.webhooks), row.language)  # fmt: skip


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(row.subscription_id, row.url, frozenset(row.event_types), row.province,
                      row.ward)  # fmt: skip


def subscriptions(routes: list[Route]) -> list[Subscription]:
    on_probe = probe_receiver(Service.NOTIFY, answer=True)
    on_event = route(routes)
    every_case_event = {
        model.event_type: on_event for model in REGISTRY if model.stream == Stream.CASES
    }
    return [
        Subscription(Stream.PLATFORM, {ProbeRequested.event_type: on_probe}),
        cases.subscription(every_case_event),
    ]
