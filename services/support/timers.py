"""Support's timers: a stage of an application past its legal limit is escalated once, however
many replicas run, and the application gauges follow."""

from datetime import UTC, datetime

from services.support import application_store as store
from services.support.metrics import ApplicationMetrics
from shared.events.base import business_today
from shared.events.support import ApplicationOverdue
from shared.runtime import Platform

TIMER_BATCH = 200


async def fire_timers(platform: Platform) -> None:
    """Overdue escalations. A stage is changed only if it still runs as seen, and its event
    commits with that change: whichever replica wins, the event leaves once."""
    now, day = datetime.now(UTC), business_today()
    async with platform.database.reading() as session:
        late = await store.stages_past(session, day, TIMER_BATCH)
    for stage in late:
        async with platform.unit_of_work() as uow:
            if await store.claim_overdue(uow.session, stage.application_id, stage.position, now):
                event = ApplicationOverdue(
                    case_id=stage.case_id, application_id=stage.application_id,
                    stage=stage.stage, agency=stage.agency, level=stage.level,
                    due_on=stage.due_on, escalated_to=stage.escalates_to, regime=stage.regime,
                    legal_basis=stage.legal_basis, limit_known=stage.limit_known,
                    province=stage.province, ward=stage.ward,
                )  # fmt: skip
                await uow.emit(event, subject=stage.case_id, time=now)
    async with platform.database.reading() as session:
        ApplicationMetrics.of(platform).observe(await store.current_stages(session), day)
