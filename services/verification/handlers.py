"""Verification's event handlers and timers: decode → domain → store → events out."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from uuid6 import uuid7

from services.verification import domain, store
from services.verification.domain import Level
from services.verification.metrics import TaskMetrics
from services.verification.procedures import Plan, Procedures, opened_steps, route_of
from shared import cases
from shared.consumer import Subscription
from shared.diagnostics import probe_receiver
from shared.events.base import VIETNAM
from shared.events.intake import CaseMerged, CaseReceived
from shared.events.platform import ProbeRequested
from shared.events.registry import Event
from shared.events.verification import (
    ChildReturnOpened,
    ChildReturnOverdue,
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


def open_task(procedures: Procedures) -> Any:
    async def on_case_received(uow: UnitOfWork, event: Event[Any]) -> None:
        case: CaseReceived = event.payload
        route = route_of(case.channel, case.reception_form)
        plan = procedures.plan(case.received_on, route)
        # A merge that arrived first (a replay, a retried batch) leaves nothing to verify: the
        # task is kept as the in-order sequence would leave it, closed as merged, unannounced.
        known = await cases.registered(uow.session, case.case_id)
        merged = known is not None and known.merged_into is not None
        values = _task(procedures, plan, case, store.VERIFICATION)
        if merged:
            values |= {"status": "closed", "closed_at": values["opened_at"],
                       "closed_because": "merged"}  # fmt: skip
        await store.add_task(uow.session, values)
        if not merged:
            step = values["steps"][0]
            opened = VerificationOpened(
                case_id=case.case_id, task_id=values["task_id"], agencies=values["agencies"],
                level=values["level"], province=case.province, ward=case.ward,
                due_on=values["due_on"], legal_basis=step["legal_basis"],
                limit_known=step["known"], route=route, step=step["step"],
            )  # fmt: skip
            await uow.emit(opened, subject=case.case_id, time=event.time)
        child = procedures.child_plan(case.received_on, route, case.age)
        if child is not None and not merged:
            await _open_child_task(uow, procedures, child, case, event)

    return on_case_received


def _task(procedures: Procedures, plan: Plan, case: CaseReceived, kind: str) -> dict[str, Any]:
    steps = opened_steps(procedures, plan.procedure, case.received_on)
    return {
        "task_id": str(uuid7()), "case_id": case.case_id, "kind": kind, "route": plan.route,
        "agencies": steps[0]["agencies"], "level": domain.first_level(case.ward),
        "province": case.province, "ward": case.ward, "received_on": case.received_on,
        "due_on": date.fromisoformat(steps[0]["due_on"]), "legal_basis": steps[0]["legal_basis"],
        "step": steps[0]["step"], "steps": steps, "status": "open",
        "opened_at": datetime.now(UTC),
    }  # fmt: skip


async def _open_child_task(
    uow: UnitOfWork, procedures: Procedures, plan: Plan, case: CaseReceived, event: Event[Any]
) -> None:
    """A child victim's return to relatives or a facility: child protection's task."""
    values = _task(procedures, plan, case, store.CHILD_RETURN)
    values["legal_basis"] = plan.legal_basis
    await store.add_task(uow.session, values)
    opened = ChildReturnOpened(
        case_id=case.case_id, task_id=values["task_id"], agencies=values["agencies"],
        province=case.province, ward=case.ward, due_on=values["due_on"],
        legal_basis=plan.legal_basis, limit_known=values["steps"][0]["known"],
    )  # fmt: skip
    await uow.emit(opened, subject=case.case_id, time=event.time)


async def on_case_merged(uow: UnitOfWork, event: Event[Any]) -> None:
    merged: CaseMerged = event.payload
    await store.close_task(uow.session, merged.case_id, "merged", datetime.now(UTC))


def subscriptions(procedures: Procedures) -> list[Subscription]:
    on_probe = probe_receiver(Service.VERIFICATION, answer=True)
    also = {CaseReceived.event_type: open_task(procedures),
            CaseMerged.event_type: on_case_merged}  # fmt: skip
    return [
        Subscription(Stream.PLATFORM, {ProbeRequested.event_type: on_probe}),
        cases.subscription(also),
    ]


async def fire_timers(platform: Platform) -> None:
    """Overdue escalations and reminders, per step under way. Each fires once, whatever the
    replicas: a task is changed only if still as seen (status and step), and the event commits
    with that change."""
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
            if await store.claim(uow.session, task.task_id, "open", task.step, changed):
                await uow.emit(_overdue(task), subject=task.case_id, time=now)
    for task in soon:
        if task.due_on < day:
            continue  # overdue, not a reminder
        worth = domain.worth_a_reminder(_step_started(task), task.due_on)
        async with platform.unit_of_work() as uow:
            reminded = {"reminded_at": now}  # or passed over: not asked for again
            if await store.claim(uow.session, task.task_id, "open", task.step, reminded) and worth:
                reminder = VerificationReminderDue(case_id=task.case_id, task_id=task.task_id,
                                                   due_on=task.due_on, level=task.level,
                                                   step=task.step)  # fmt: skip
                await uow.emit(reminder, subject=task.case_id, time=now)

    async with platform.database.reading() as session:
        metrics.observe(await store.unfinished(session), day)


def _step_started(task: Any) -> date | None:
    """When the step under way started (tasks opened before steps were recorded: unknown)."""
    for step in task.steps or ():
        if step["step"] == task.step and step.get("starts_on"):
            return date.fromisoformat(step["starts_on"])
    return None


def _overdue(task: Any) -> VerificationOverdue | ChildReturnOverdue:
    if task.kind == store.CHILD_RETURN:
        return ChildReturnOverdue(case_id=task.case_id, task_id=task.task_id,
                                  due_on=task.due_on, escalated_to=Level.PROVINCE,
                                  province=task.province)  # fmt: skip
    return VerificationOverdue(case_id=task.case_id, task_id=task.task_id, due_on=task.due_on,
                               escalated_to=Level.PROVINCE, province=task.province,
                               step=task.step)  # fmt: skip
