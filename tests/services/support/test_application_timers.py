"""An application's stage past its legal limit is escalated once, whatever the replicas: on
SQLite and PostgreSQL, two support processes' timers racing over the same database publish one
``application.overdue`` per late stage, and a second round publishes nothing more."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.support import application_store
from services.support.app import MIGRATIONS, create_app
from services.support.applications import load_procedures, plan
from services.support.metrics import ApplicationMetrics
from services.support.policies import Regime
from services.support.settings import SupportSettings
from services.support.timers import fire_timers
from shared.db import outbox
from shared.events.base import business_today
from shared.migrations import upgrade
from shared.runtime import Platform
from tests.conftest import DatabaseFactory

OLD = load_procedures()[Regime.LAW_66_2011]


@pytest.fixture
async def replicas(
    new_database_url: DatabaseFactory, redis_url: str, tmp_path: Path
) -> AsyncIterator[list[Platform]]:
    """Two support processes' platforms on one database (migrated), as two replicas run."""
    url = await new_database_url()
    platforms = []
    for n in range(2):
        settings = SupportSettings(embedded=True, redis_url=redis_url, database_url=url,
                                   data_dir=tmp_path, consumer_name=f"support@{n}")  # fmt: skip
        platforms.append(create_app(settings).state.platform)
    await upgrade(platforms[0].database, MIGRATIONS, vault=platforms[0].vault)
    yield platforms
    for platform in platforms:
        await platform.redis.aclose()
        await platform.database.dispose()
        platform.telemetry.shutdown()


async def record(platform: Platform, application_id: str, received_on: date) -> None:
    """An application as the API records it, received on ``received_on``."""
    planned = plan(OLD, received_on)
    values = {"application_id": application_id, "case_id": f"case-{application_id}",
              "beneficiary": "person", "kinds": ["education"], "regime": OLD.regime,
              "legal_basis": OLD.legal_basis, "received_on": received_on,
              "received_by": "UBND xã", "recorded_by": "sr-1", "status": "open",
              "current_stage": planned[0].limit.stage, "current_due_on": planned[0].due_on,
              "decided_on": None, "refused_kinds": [], "decision_reason": None,
              "province": "08", "ward": "00694"}  # fmt: skip
    stages = [{"application_id": application_id, "position": p.position,
               "stage": p.limit.stage, "agency": p.limit.agency, "level": p.limit.level,
               "days": p.limit.days, "day_kind": p.limit.day_kind,
               "limit_known": p.limit.known, "escalates_to": p.limit.escalates_to,
               "legal_basis": p.limit.legal_basis, "status": p.status,
               "started_on": p.started_on, "due_on": p.due_on}
              for p in planned]  # fmt: skip
    async with platform.unit_of_work() as uow:
        await application_store.add_application(uow.session, values, stages)


async def overdue_events(platform: Platform) -> list[Any]:
    async with platform.database.reading() as session:
        rows = await session.execute(
            select(outbox.c.fields).where(outbox.c.event_type == "application.overdue")
        )
        return [json.loads(fields["data"]) for fields in rows.scalars()]


async def test_decree_09_art_23_a_late_commune_stage_escalates_once_across_replicas(
    replicas: list[Platform],
) -> None:
    today = business_today()
    await record(replicas[0], "late", today - timedelta(days=30))
    await record(replicas[0], "on-time", today)
    await asyncio.gather(*(fire_timers(p) for p in replicas))
    await asyncio.gather(*(fire_timers(p) for p in replicas))  # the next rounds change nothing

    fired = await overdue_events(replicas[0])
    assert len(fired) == 1, fired
    data = fired[0]
    assert (data["application_id"], data["stage"], data["escalated_to"]) == (
        "late", "commune_forwarding", "district_people_committee"
    )  # fmt: skip
    assert data["legal_basis"] == "Decree 09/2013/NĐ-CP Art. 23"
    async with replicas[1].database.reading() as session:
        stages = await application_store.stages_of(session, "late")
    assert [s.status for s in stages] == ["overdue", "pending", "pending"]
    assert stages[0].overdue_at is not None

    gauges = ApplicationMetrics.of(replicas[1])
    assert (gauges.open["commune_forwarding"], gauges.late["commune_forwarding"]) == (2, 1)
