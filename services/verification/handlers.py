"""Verification's event handlers and timers: decode → domain → store → events out."""

from datetime import UTC, datetime, timedelta
from typing import Any

from uuid6 import uuid7

from services.verification import domain, store
from services.verification.domain import Level, Limit
from services.verification.metrics import TaskMetrics
from shared import cases
from shared.consumer import Subscription
from shared.diagnostics import probe_receiver
from shared.events.base import VIETNAM
from shared.events.intake import CaseMerged, CaseReceived
from shared.events.platform import ProbeRequested
from shared.events.registry import Event
from shared.events.verification import (
    VerificationOpened,
    VerificationOverdue,
    VerificationReminderDue,
)
from shared.names import Service, Stream
from shared.outbox import UnitOfWork
from shared.runtime import Platform

TIMER_BATCH = 200


def today() -> datetime:
    return datetime.now(VIETNAM)  # business dates are Viet Nam's


def open_task(limits: list[Limit]) -> Any:
    async def on_case_received(uow: UnitOfWork, event: Event[Any]) -> None:
        case: CaseReceived = event.payload
        limit = domain.limit_for(limits, domain.VERIFICATION_STEP, case.received_on)
        task_id = str(uuid7())
        # A merge that arrived first (a replay, a retried batch) leaves nothing to verify: the
        # task is kept as the in-order sequence would leave it, closed as merged, unannounced.
        known = await cases.registered(uow.session, case.case_id)
        values = {
            "task_id": task_id,
            "case_id": case.case_id,
            "agencies": domain.competent_agencies(case.channel, case.reception_form),
            "level": domain.first_level(case.ward),
            "province": case.province,
            "ward": case.ward,
            "received_on": case.received_on,
            "due_on": domain.due_on(limits, case.received_on),
            "legal_basis": limit.legal_basis,
            "status": "open",
            "opened_at": datetime.now(UTC),
        }
        if known is not None and known.merged_into is not None:
            closed = {"status": "closed", "closed_at": values["opened_at"],
                      "closed_because": "merged"}  # fmt: skip
            await store.add_task(uow.session, values | closed)
            return
        await store.add_task(uow.session, values)
        opened = VerificationOpened(
            case_id=case.case_id,
            task_id=task_id,
            agencies=values["agencies"],
            level=values["level"],
            province=case.province,
            ward=case.ward,
            due_on=values["due_on"],
            legal_basis=limit.legal_basis,
            limit_known=limit.known,
        )
        await uow.emit(opened, subject=case.case_id, time=event.time)

    return on_case_received


async def on_case_merged(uow: UnitOfWork, event: Event[Any]) -> None:
    merged: CaseMerged = event.payload
    await store.close_task(uow.session, merged.case_id, "merged", datetime.now(UTC))


def subscriptions(limits: list[Limit]) -> list[Subscription]:
    on_probe = probe_receiver(Service.VERIFICATION, answer=True)
    also = {CaseReceived.event_type: open_task(limits), CaseMerged.event_type: on_case_merged}
    return [
        Subscription(Stream.PLATFORM, {ProbeRequested.event_type: on_probe}),
        cases.subscription(also),
    ]


async def fire_timers(platform: Platform) -> None:
    """Overdue escalations and reminders. Each fires once, whatever the replicas: a task is
    changed only if still as seen, and the event commits with that change."""
    now, day = datetime.now(UTC), today().date()
    async with platform.database.reading() as session:
        late = await store.open_past(session, day, TIMER_BATCH)
        soon = await store.to_remind(
            session, day + timedelta(days=domain.REMINDER_DAYS), TIMER_BATCH
        )
    metrics = TaskMetrics.of(platform)
    for task in late:
        async with platform.unit_of_work() as uow:
            changed = {"status": "overdue", "overdue_at": now, "level": Level.PROVINCE}
            if await store.claim(uow.session, task.task_id, "open", changed):
                event = VerificationOverdue(case_id=task.case_id, task_id=task.task_id,
                                            due_on=task.due_on, escalated_to=Level.PROVINCE,
                                            province=task.province)  # fmt: skip
                await uow.emit(event, subject=task.case_id, time=now)
    for task in soon:
        if task.due_on < day:
            continue  # overdue, not a reminder
        async with platform.unit_of_work() as uow:
            if await store.claim(uow.session, task.task_id, "open", {"reminded_at": now}):
                reminder = VerificationReminderDue(case_id=task.case_id, task_id=task.task_id,
                                                due_on=task.due_on, level=task.level)  # fmt: skip
                await uow.emit(reminder, subject=task.case_id, time=now)

    async with platform.database.reading() as session:
        metrics.observe(await store.unfinished(session), day)
