"""Escalation per step under way, once whatever the replicas: two processes on one database fire
their timers together; a step done starts the next step's limit, escalated once of its own; a
child victim's return task (Law 53/2024 Art. 30) escalates like the others."""

import asyncio
import json
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.verification import store
from services.verification.app import MIGRATIONS, create_app
from services.verification.handlers import fire_timers
from services.verification.procedures import complete, load, task_values
from services.verification.settings import VerificationSettings
from shared.db import outbox
from shared.events import REGISTRY
from shared.events.base import business_time
from shared.events.envelope import to_fields
from shared.events.intake import CaseReceived, Consent
from shared.migrations import upgrade
from shared.runtime import Platform
from shared.streams import Entry

RECEIVED = date(2026, 1, 5)  # long past: every limit has run out


def received(case_id: str, **changes: Any) -> dict[bytes, bytes]:
    facts: dict[str, Any] = {
        "case_id": case_id, "received_on": RECEIVED, "channel": "commune",
        "reception_form": "self_returned", "province": "11", "ward": "03325",
        "agency": "Commune", "sex": "female", "trafficking_scope": "abroad",
        "consent": Consent(services=True, information_sharing=True, statistics=True),
    }  # fmt: skip
    event = CaseReceived(**(facts | changes))
    envelope = REGISTRY.envelope(event, event_id=f"evt-{case_id}", source="/safereturn/intake",
                                 subject=case_id, time=business_time(RECEIVED))  # fmt: skip
    return {k.encode(): v.encode() for k, v in to_fields(envelope).items()}


async def emitted(platform: Platform, event_type: str) -> list[dict[str, Any]]:
    async with platform.database.reading() as session:
        wanted = select(outbox.c.fields).where(outbox.c.event_type == event_type)
        rows = await session.execute(wanted.order_by(outbox.c.seq))
    return [json.loads(fields["data"]) for (fields,) in rows]


async def scenario(first: Platform, second: Platform) -> None:
    consumer = next(c for c in first.consumers if c.stream.endswith("{cases}"))
    await upgrade(first.database, MIGRATIONS)
    await consumer.provision()
    child = received("case-child", reception_form="bilateral_handover", age=11)
    await consumer.process([Entry("1-0", received("case-late")), Entry("2-0", child)])

    async def both_fire() -> None:
        await asyncio.gather(fire_timers(first), fire_timers(second))
        await asyncio.gather(fire_timers(first), fire_timers(second))

    await both_fire()
    overdue = await emitted(first, "verification.overdue")
    late = [e for e in overdue if e["case_id"] == "case-late"]
    assert [(e["step"], e["due_on"]) for e in late] == [
        ("provincial_initial_verification", "2026-01-08")
    ]
    (child_late,) = await emitted(first, "verification.child_return_overdue")
    assert (child_late["case_id"], child_late["due_on"]) == ("case-child", "2026-01-08")
    (opened,) = await emitted(first, "verification.child_return_opened")
    assert opened["agencies"] == ["child_protection"]
    assert "Art. 30" in opened["legal_basis"]

    # The health department asked the police on 2026-01-07: the police's limit runs from it.
    async with first.unit_of_work() as uow:
        task = await store.task_of(uow.session, "case-late")
        steps = complete(load(), task.steps, task.step, date(2026, 1, 7), date(2026, 12, 1),
                         last_ends_task=False)  # fmt: skip
        values = task_values(steps, datetime.now(UTC))
        assert await store.advance(uow.session, task.task_id, task.step, values)
        assert not await store.advance(uow.session, task.task_id, task.step, values)  # done once
    await both_fire()
    late = [e for e in await emitted(first, "verification.overdue") if e["case_id"] == "case-late"]
    assert [(e["step"], e["due_on"]) for e in late] == [
        ("provincial_initial_verification", "2026-01-08"),
        ("police_identification", "2026-01-27"),
    ]
    assert len(await emitted(first, "verification.child_return_overdue")) == 1
    async with first.database.reading() as session:
        verification = await store.task_of(session, "case-late")
        child_task = await store.task_of(session, "case-child", store.CHILD_RETURN)
    assert (verification.status, verification.step) == ("overdue", "police_identification")
    assert (child_task.status, child_task.kind) == ("overdue", "child_return")


def test_each_step_escalates_once_with_two_replicas_and_the_child_task_too(
    redis_url: str, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / secrets.token_hex(4)}.db"
    apps = [
        create_app(VerificationSettings(embedded=True, redis_url=redis_url, database_url=url))
        for _ in range(2)
    ]
    first, second = (app.state.platform for app in apps)

    async def run() -> None:
        try:
            await first.redis.delete("safereturn:{cases}")
            await scenario(first, second)
        finally:
            for platform in (first, second):
                await platform.redis.aclose()
                await platform.database.dispose()
                platform.telemetry.shutdown()

    asyncio.run(run())
