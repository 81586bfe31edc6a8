"""Property: what a service makes of a case's events is a function of the set of events, not
of their order. Any permutation of a case's history, with any duplicates, in any batches,
leaves every service that consumes the case stream — its case register, intake's view of the
case, verification's task, support's case facts, notify's recipients — exactly as the
in-order history does. Each service runs its real app, migrations and stream consumer.
"""

import asyncio
import secrets
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import app as intake
from services.intake.reports import store as intake_store
from services.intake.settings import IntakeSettings
from services.notify import app as notify
from services.notify import store as notify_store
from services.notify.settings import NotifySettings
from services.support import app as support
from services.support import store as support_store
from services.support.settings import SupportSettings
from services.verification import app as verification
from services.verification import store as verification_store
from services.verification.settings import VerificationSettings
from shared.db import case_register
from shared.events import REGISTRY
from shared.events.base import EventPayload
from shared.events.envelope import to_fields
from shared.events.intake import CaseMerged, CaseReceived, Consent
from shared.events.support import SupportGranted
from shared.events.verification import (
    CaseIdentificationAmended,
    CaseIdentified,
    CaseNotIdentified,
    Protected,
    ProtectionOrdered,
    VerificationOpened,
    VerificationOverdue,
)
from shared.migrations import upgrade
from shared.names import Stream
from shared.runtime import Platform
from shared.settings import ServiceSettings
from shared.streams import Entry

PROVINCE, WARD = "11", "03325"
CASE, KEPT, MERGED_AT_INTAKE = "case-a", "case-b", "case-c"
START = datetime(2025, 9, 1, 3, tzinfo=UTC)


# --- a case's history, in the order it happened -------------------------------------------------


def received(case_id: str, on: date, age: int | None, consent: bool) -> CaseReceived:
    return CaseReceived(
        case_id=case_id,
        received_on=on,
        channel="commune",
        reception_form="self_returned",
        province=PROVINCE,
        ward=WARD,
        agency="Commune",
        sex="female",
        age=age,
        trafficking_scope="abroad",
        consent=Consent(services=consent, information_sharing=consent, statistics=consent),
    )


def decision(n: int, outcome: str, previous: str, on: date) -> EventPayload:
    """The case's ``n``-th decision (1 is the first; later ones amend it)."""
    if n > 1:
        return CaseIdentificationAmended(
            case_id=CASE,
            outcome=outcome,
            previous_outcome=previous,
            decided_on=on,
            evidence="QD-1",
            revision=n,
        )
    if outcome == "victim":
        return CaseIdentified(case_id=CASE, decided_on=on, evidence="QD-1", revision=1)
    return CaseNotIdentified(case_id=CASE, decided_on=on, revision=1)


@st.composite
def histories(draw: st.DrawFn) -> list[EventPayload]:
    on = draw(st.sampled_from([date(2025, 3, 3), date(2025, 8, 4)]))  # both legal regimes
    age, consent = draw(st.sampled_from([None, 15, 40])), draw(st.booleans())
    events: list[EventPayload] = [received(KEPT, on, 30, True)]
    if draw(st.booleans()):  # the same ID number at intake: merged before it was received
        events.append(
            CaseMerged(
                case_id=MERGED_AT_INTAKE,
                into=KEPT,
                method="id_number",
                province=PROVINCE,
                ward=WARD,
            )
        )
    events.append(received(CASE, on, age, consent))
    if draw(st.booleans()):
        task = VerificationOpened(
            case_id=CASE,
            task_id="task-1",
            agencies=["commune_police"],
            level="commune",
            province=PROVINCE,
            ward=WARD,
            due_on=on + timedelta(days=20),
            legal_basis="law",
            limit_known=True,
        )
        events.append(task)
        if draw(st.booleans()):
            events.append(
                VerificationOverdue(
                    case_id=CASE,
                    task_id="task-1",
                    due_on=on,
                    escalated_to="province",
                    province=PROVINCE,
                )
            )
    outcome, decided_on = "", on
    for n in range(1, draw(st.integers(0, 3)) + 1):
        previous, outcome = outcome, draw(st.sampled_from(["victim", "not_victim"]))
        decided_on += timedelta(days=draw(st.integers(0, 2)))  # amendments on one day tie
        events.append(decision(n, outcome, previous, decided_on))
    if outcome == "victim" and draw(st.booleans()):
        events.append(
            ProtectionOrdered(
                case_id=CASE,
                order_id="order-1",
                measures=["guard"],
                protected=[Protected(relation="victim", count=1)],
                starts_on=decided_on,
            )
        )
        events.append(
            SupportGranted(
                case_id=CASE,
                grant_id="grant-1",
                kind="food",
                beneficiary="person",
                group="victim",
                quantity=1,
                unit="day",
                amount=5_000_000,
                granted_on=decided_on,
                regime="2011",
                rule="r",
                legal_basis="b",
                province=PROVINCE,
                ward=WARD,
                status="pending_approval",
            )
        )
    if draw(st.booleans()):  # a reviewer confirmed it is the same person as KEPT
        events.append(
            CaseMerged(case_id=CASE, into=KEPT, method="review", province=PROVINCE, ward=WARD)
        )
    return events


def entry(position: int, payload: EventPayload) -> dict[bytes, bytes]:
    """The event as it lies on the stream; its id and time are fixed by its place in history."""
    subject = getattr(payload, "case_id", None)
    event = REGISTRY.envelope(
        payload,
        event_id=f"event-{position}",
        source="/safereturn/test",
        subject=subject,
        time=START + timedelta(minutes=position),
    )
    return {k.encode(): v.encode() for k, v in to_fields(event).items()}


@dataclass(frozen=True)
class Delivery:
    """The stream as a consumer met it: which events, in which order, in which batches."""

    order: list[int]
    batches: list[int]


@st.composite
def deliveries(draw: st.DrawFn, count: int) -> Delivery:
    repeats = draw(st.lists(st.integers(0, count - 1), max_size=count))
    order = draw(st.permutations([*range(count), *repeats]))
    return Delivery(order, draw(st.lists(st.integers(1, 5), min_size=1, max_size=6)))


# --- each service as it runs --------------------------------------------------------------------


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


async def notify_directory(session: AsyncSession) -> None:
    """Agencies of every kind in the case's province and commune, and an integrator."""
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


@pytest.fixture(scope="module", params=list(SERVICES))
def runner(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Runner:
    # Its own Redis database: the consumer only acknowledges there, the stream is never read.
    own_redis = redis_url.rsplit("/", 1)[0] + "/3"
    return Runner(SERVICES[request.param], own_redis, tmp_path_factory.mktemp(request.param))


@pytest.mark.timeout(600)  # passing takes about a minute a service; shrinking can take longer
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_order_with_any_duplicates_leaves_the_state_the_in_order_history_leaves(
    runner: Runner, data: st.DataObject
) -> None:
    history = data.draw(histories(), label="history")
    events = [entry(n, payload) for n, payload in enumerate(history)]
    delivered = data.draw(deliveries(len(events)), label="delivery")
    note(
        "\n".join(f"{n}: {p.event_type} {p.model_dump(mode='json')}" for n, p in enumerate(history))
    )
    in_order = runner.state_after(events, Delivery(list(range(len(events))), [1]))
    assert runner.state_after(events, delivered) == in_order
