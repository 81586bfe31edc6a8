"""Each service that consumes the case stream, run as it runs (its real app, migrations and
stream consumer) over a copy of a migrated, seeded SQLite database, and the state it is left in
(volatile ids and clocks left out)."""

import asyncio
import secrets
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import app as intake
from services.intake.reports import store as intake_store
from services.intake.settings import IntakeSettings
from services.notify import app as notify
from services.notify import integrators
from services.notify import store as notify_store
from services.notify.settings import NotifySettings
from services.support import app as support
from services.support import store as support_store
from services.support.settings import SupportSettings
from services.verification import app as verification
from services.verification import store as verification_store
from services.verification.settings import VerificationSettings
from shared.db import case_register
from shared.migrations import upgrade
from shared.names import Stream
from shared.runtime import Platform
from shared.settings import ServiceSettings
from shared.streams import Entry

PROVINCE, WARD = "11", "03325"
CASE, KEPT, MERGED_AT_INTAKE = "case-a", "case-b", "case-c"
START = datetime(2025, 9, 1, 3, tzinfo=UTC)


@dataclass(frozen=True)
class Delivery:
    """The stream as a consumer met it: which events, in which order, in which batches."""

    order: list[int]
    batches: list[int]


Snapshot = Callable[[AsyncSession], Awaitable[Any]]


async def rows(session: AsyncSession, table: Any, *, leave_out: tuple[str, ...] = ()) -> list:
    columns = [column for column in table.c if column.name not in leave_out]
    found = await session.execute(select(*columns))
    return sorted((tuple(sorted(row._asdict().items())) for row in found), key=repr)


async def register(session: AsyncSession) -> list:
    return await rows(session, case_register)


async def intake_state(session: AsyncSession) -> list:
    return [
        await register(session),
        await rows(session, intake_store.cases, leave_out=("created_at", "sealed")),
    ]


async def verification_state(session: AsyncSession) -> list:
    volatile = ("task_id", "opened_at", "closed_at", "reminded_at", "overdue_at")
    return [
        await register(session),
        await rows(session, verification_store.tasks, leave_out=volatile),
    ]


async def support_state(session: AsyncSession) -> list:
    return [await register(session), await rows(session, support_store.support_cases)]


async def notify_state(session: AsyncSession) -> list:
    recipients = await rows(
        session,
        notify_store.deliveries,
        leave_out=("delivery_id", "next_attempt_at", "recorded_at", "lease_until", "claim"),
    )
    return [
        await register(session),
        await rows(session, notify_store.children),
        recipients,
        await rows(session, notify_store.parked),
    ]


async def intake_cases(session: AsyncSession) -> None:
    """Intake's own rows for the cases it admitted (the stream brings it their follow-up)."""
    for case_id in (CASE, KEPT, MERGED_AT_INTAKE):
        merged = case_id == MERGED_AT_INTAKE
        await session.execute(
            insert(intake_store.cases).values(
                case_id=case_id,
                agency="Commune",
                source_ref=case_id,
                submitted_by="client",
                channel="commune",
                reception_form="self_returned",
                received_on=date(2025, 3, 3),
                province=PROVINCE,
                ward=WARD,
                trafficking_scope="abroad",
                purposes=[],
                consent_services=True,
                consent_information_sharing=True,
                consent_statistics=True,
                consent_recorded_on=date(2025, 3, 3),
                status="merged" if merged else "received",
                merged_into=KEPT if merged else None,
                sealed="-",
                created_at=START,
            )
        )


INTEGRATORS = (("ngo-here", PROVINCE, None), ("national", None, ["case.received"]),
               ("ngo-elsewhere", "12" if PROVINCE != "12" else "01", None))  # fmt: skip
"""Integrators reading their own stream: the case's province (every type), national (one
type), and another province."""


async def notify_directory(session: AsyncSession) -> None:
    """Agencies of every kind in the case's province and commune, a webhook subscription and
    integrators with their own streams."""
    for n, (kind, ward) in enumerate(
        [
            (k, w)
            for k in (
                "commune_police",
                "commune_committee",
                "social_protection",
                "womens_union",
                "child_protection",
                "provincial_police",
            )
            for w in (None, WARD)
        ]
    ):
        await notify_store.add_agency(
            session,
            {
                "agency_id": f"agency-{n}",
                "name": f"{kind} {ward}",
                "kind": kind,
                "province": PROVINCE,
                "ward": ward,
                "emails": [f"a{n}@example.org"],
                "phones": [],
                "webhooks": [],
                "webhook_secret": None,
                "language": "vi",
                "created_at": START,
            },
        )
    await notify_store.add_subscription(
        session,
        {
            "subscription_id": "sub-1",
            "client_id": "integrator",
            "url": "http://127.0.0.1:9/hook",
            "event_types": ["*"],
            "province": PROVINCE,
            "ward": None,
            "secret": "s",
            "status": "active",
            "created_at": START,
        },
    )
    for name, province, types in INTEGRATORS:
        await integrators.add(session, integrators.asked(name, province, types), START)


@dataclass(frozen=True)
class Service:
    settings: Callable[..., ServiceSettings]
    create_app: Callable[[Any], Any]
    migrations: Path
    state: Snapshot
    seed: Callable[[AsyncSession], Awaitable[None]] | None = None


SERVICES = {
    "intake": Service(
        IntakeSettings, intake.create_app, intake.MIGRATIONS, intake_state, intake_cases
    ),
    "verification": Service(
        VerificationSettings, verification.create_app, verification.MIGRATIONS, verification_state
    ),
    "support": Service(SupportSettings, support.create_app, support.MIGRATIONS, support_state),
    "notify": Service(
        NotifySettings, notify.create_app, notify.MIGRATIONS, notify_state, notify_directory
    ),
}


class Runner:
    """Runs one service's real consumer over a copy of a migrated, seeded database."""

    def __init__(self, service: Service, redis_url: str, directory: Path) -> None:
        self.service = service
        self.redis_url = redis_url
        self.directory = directory
        self.template = directory / "template.db"
        asyncio.run(self._run(self.template, self._prepare))

    async def _prepare(self, platform: Platform) -> None:
        await upgrade(platform.database, self.service.migrations)
        if self.service.seed is not None:
            async with platform.database.transaction() as session:
                await self.service.seed(session)

    def state_after(self, events: list[dict[bytes, bytes]], delivery: Delivery) -> Any:
        database = self.directory / f"{secrets.token_hex(4)}.db"
        shutil.copy(self.template, database)
        return asyncio.run(self._run(database, lambda p: self._consume(p, events, delivery)))

    async def _consume(
        self, platform: Platform, events: list[dict[bytes, bytes]], delivery: Delivery
    ) -> Any:
        consumer = next(c for c in platform.consumers if c.stream == Stream.CASES)
        await consumer.provision()
        entries = [Entry(f"{n + 1}-0", events[i]) for n, i in enumerate(delivery.order)]
        start = turn = 0
        while start < len(entries):
            size = delivery.batches[turn % len(delivery.batches)]
            await consumer.process(entries[start : start + size])
            start, turn = start + size, turn + 1
        async with platform.database.reading() as session:
            return await self.service.state(session)

    async def _run(self, database: Path, work: Callable[[Platform], Awaitable[Any]]) -> Any:
        settings = self.service.settings(
            embedded=True,
            redis_url=self.redis_url,
            data_dir=self.directory,
            database_url=f"sqlite+aiosqlite:///{database}",
        )
        platform: Platform = self.service.create_app(settings).state.platform
        try:
            return await work(platform)
        finally:
            await platform.redis.aclose()
            await platform.database.dispose()
            platform.telemetry.shutdown()
