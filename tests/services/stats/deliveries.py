"""Events as stats receives them, and the stats database they are consumed into: the helpers
the projection tests share."""

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.stats import disclosure, projections, store, tallies
from services.stats.domain import Period, form
from services.stats.domain import named_period as period
from shared.db import Database
from shared.events.base import EventPayload
from shared.events.intake import ActivityReported, CaseMerged, CaseReceived, Consent
from shared.events.support import (
    SupportApproved,
    SupportDisbursed,
    SupportGranted,
    SupportReferred,
    SupportRejected,
)
from shared.events.verification import (
    CaseIdentificationAmended,
    CaseIdentified,
    CaseNotIdentified,
    Protected,
    ProtectionOrdered,
    Trafficking,
    VerificationOverdue,
)

PROVINCE = "11"
SOURCE = "/safereturn/test"
LOAN = "social_policy_bank_loan"
CASES = tuple(f"case-{n}" for n in range(5))
PERIODS = (*(period(name) for name in ("2025-Q4", "2026-Q1", "2026-Q2", "2026-H2", "2026",
                                        "2027-Q1", "2027")),
           Period(date(2025, 1, 1), date(2028, 12, 31)),
           # periods of any length, cutting between one day a person was helped and the next
           Period(date(2026, 2, 10), date(2026, 5, 20)), Period(date(2026, 3, 1), date(2026, 3, 1)),
           Period(date(2025, 12, 20), date(2026, 1, 10)))  # fmt: skip


# --- events as stats receives them --------------------------------------------------------------


EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sent:
    """One delivery of an event: its id (the same on a redelivery), type, JSON data and time."""

    event_id: str
    type: str
    data: dict[str, Any]
    time: datetime = EPOCH


def sent(payload: EventPayload, event_id: str | None = None, *, revision: int | None = None,
         time: datetime = EPOCH) -> Sent:  # fmt: skip
    """The event as delivered; a decision's ``revision`` added to its data when given."""
    data = payload.model_dump(mode="json")
    if revision is not None:
        data["revision"] = revision
    return Sent(event_id or secrets.token_hex(8), payload.event_type, data, time)


def archive_row(event: Sent) -> dict[str, Any]:
    """The archive's values, as ``services/stats/handlers.py`` makes them."""
    at = event.time
    envelope = {"specversion": "1.0", "id": event.event_id, "source": SOURCE,
                "type": event.type, "subject": event.data.get("case_id"),
                "time": at.isoformat(), "data": event.data}  # fmt: skip
    return {"event_key": f"{SOURCE}#{event.event_id}", "event_id": event.event_id,
            "stream": "safereturn:{cases}", "type": event.type, "subject": envelope["subject"],
            "time": at, "envelope": envelope, "recorded_at": datetime.now(UTC)}  # fmt: skip


def consent(statistics: bool = True) -> Consent:
    return Consent(services=True, information_sharing=True, statistics=statistics)


def received(case_id: str, **changes: Any) -> CaseReceived:
    """A Kinh Vietnamese woman of 20 trafficked to China and rescued, received on 10 January
    2026 in province 11, who consented to statistics."""
    values = {"received_on": date(2026, 1, 10), "channel": "commune", "reception_form": "rescued",
              "province": PROVINCE, "agency": "Công an xã", "sex": "female", "age": 20,
              "ethnicity": "01", "nationality": "VN", "trafficking_scope": "abroad",
              "destination_country": "CN", "consent": consent()}  # fmt: skip
    return CaseReceived(case_id=case_id, **(values | changes))


def identified(case_id: str, on: date, **corrections: str | None) -> CaseIdentified:
    return CaseIdentified(case_id=case_id, decided_on=on, evidence="border_guard_record",
                          corrections=Trafficking(**corrections))  # fmt: skip


def not_identified(case_id: str, on: date) -> CaseNotIdentified:
    return CaseNotIdentified(case_id=case_id, decided_on=on)


def amended(case_id: str, outcome: str, on: date, previous: str = "victim",
            **corrections: str | None) -> CaseIdentificationAmended:  # fmt: skip
    return CaseIdentificationAmended(
        case_id=case_id, outcome=outcome, previous_outcome=previous, decided_on=on,
        corrections=Trafficking(**corrections),
    )  # fmt: skip


def merged(case_id: str, into: str) -> CaseMerged:
    return CaseMerged(case_id=case_id, into=into, method="review")


def ordered(case_id: str, order_id: str, on: date, *counts: int) -> ProtectionOrdered:
    relations = ("victim", "close_relative", "accompanying_minor")
    return ProtectionOrdered(case_id=case_id, order_id=order_id, measures=["police_protection"],
                             protected=[Protected(relation=relations[i % 3], count=count)
                                        for i, count in enumerate(counts)],
                             starts_on=on)  # fmt: skip


def activity(activity_id: str, kind: str, on: date, province: str = PROVINCE,
             **numbers: int) -> ActivityReported:  # fmt: skip
    return ActivityReported(activity_id=activity_id, kind=kind, held_on=on, province=province,
                            agency="Sở Y tế", **numbers)  # fmt: skip


def granted(case_id: str, grant_id: str, kind: str, on: date,
            status: str = "approved") -> SupportGranted:  # fmt: skip
    return SupportGranted(case_id=case_id, grant_id=grant_id, kind=kind, beneficiary="person",
                          group="victim", quantity=1, unit="once", amount=500_000, granted_on=on,
                          regime="law-53-2024", rule="test", legal_basis="Nghị định 162/2025",
                          province=PROVINCE, status=status)  # fmt: skip


def approved(case_id: str, grant_id: str, kind: str, on: date) -> SupportApproved:
    return SupportApproved(case_id=case_id, grant_id=grant_id, kind=kind, amount=500_000,
                           approved_on=on)  # fmt: skip


def rejected(case_id: str, grant_id: str, kind: str, on: date) -> SupportRejected:
    return SupportRejected(case_id=case_id, grant_id=grant_id, kind=kind, amount=500_000,
                           rejected_on=on)  # fmt: skip


def referred(case_id: str, referral_id: str, service: str, on: date) -> SupportReferred:
    return SupportReferred(case_id=case_id, referral_id=referral_id, service=service,
                           provider="Ngân hàng Chính sách xã hội", referred_on=on, child=False,
                           province=PROVINCE)  # fmt: skip


def overdue(case_id: str, due_on: date = date(2026, 2, 10)) -> VerificationOverdue:
    return VerificationOverdue(case_id=case_id, task_id=f"task-{case_id}", due_on=due_on,
                               escalated_to="province", province=PROVINCE)  # fmt: skip


def disbursed(case_id: str, grant_id: str, disbursement_id: str, kind: str, amount: int,
              on: date, source: str = "state_budget") -> SupportDisbursed:  # fmt: skip
    return SupportDisbursed(case_id=case_id, grant_id=grant_id, disbursement_id=disbursement_id,
                            kind=kind, amount=amount, paid_on=on, method="cash",
                            funding_source=source, province=PROVINCE)  # fmt: skip


# --- the database -------------------------------------------------------------------------------


async def new_database(url: str) -> Database:
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.run_sync(store.metadata.create_all)
    return database


async def deliver(session: AsyncSession, event: Sent, new: list[dict[str, Any]]) -> bool:
    """Archived first, as the handler does; whether it was new (then its envelope is added to
    ``new``, projected as the transaction ends)."""
    row = archive_row(event)
    archived = await store.archived(session, row)
    if archived:
        new.append(row["envelope"])
    return archived


async def consume(database: Database, events: Iterable[Sent], *, batch: bool = False) -> list[bool]:
    """Each event in its own transaction, as the consumer commits them (or all of them in one,
    as it commits a batch); whether each one was new."""
    if batch:
        async with database.transaction() as session:
            new: list[dict[str, Any]] = []
            news = [await deliver(session, event, new) for event in events]
            await tallies.project(session, new)
            return news
    news = []
    for event in events:
        async with database.transaction() as session:
            new = []
            news.append(await deliver(session, event, new))
            await tallies.project(session, new)
    return news


async def replay_archive(source: Database, target: Database, page_size: int = 4) -> int:
    """Project every archived event of ``source`` into ``target``, page by page, in one
    transaction (as ``safereturn stats rebuild`` does); how many."""
    count, after = 0, 0
    async with source.reading() as reading, target.transaction() as session:
        await store.clear_projections(session)
        while page := await store.archive_page(reading, after, page_size):
            await projections.project(session, [row.envelope for row in page])
            count, after = count + len(page), page[-1].seq
        await tallies.rebuild(session)
    return count


async def rebuild_in_place(database: Database, page_size: int = 3) -> int:
    count, after = 0, 0
    async with database.transaction() as session:
        await store.clear_projections(session)
        while page := await store.archive_page(session, after, page_size):
            await projections.project(session, [row.envelope for row in page])
            count, after = count + len(page), page[-1].seq
        await tallies.rebuild(session)
    return count


async def filled(database: Database) -> bool:
    """What stats does as it starts: the form's sums worked out if they never were."""
    async with database.transaction() as session:
        return await tallies.fill(session)


async def forms(
    database: Database, periods: Iterable[Period] = PERIODS, province: str | None = PROVINCE
) -> list[dict[str, int]]:
    """The form of the province (or, given None, the national form) for each period, as the
    sums kept by area, day and row give it; checked against the rule's count from the facts."""
    async with database.reading() as session:
        facts = await store.facts(session, province, None)
        found = [await tallies.form(session, chosen, province, None) for chosen in periods]
        leaves = {year: await tallies.leaf_forms(session, year) for year in YEARS}
    counted = [form(chosen, facts) for chosen in periods]
    differences = [{key: (f[key], c[key]) for key in c if f[key] != c[key]}
                   for f, c in zip(found, counted, strict=True)]  # fmt: skip
    assert found == counted, differences
    if province is None:  # the smallest areas' forms the open aggregates are published from
        for year, kept in leaves.items():
            assert _shown(kept) == _shown(disclosure.leaf_forms(year, facts)), year
    return found


YEARS = (2025, 2026, 2027)


def _shown(leaves: disclosure.Leaves) -> dict[tuple[str, str], dict[str, dict[str, int]]]:
    """Leaves with anything to show (an area whose facts fall in other years shows nothing)."""
    return {where: {part: dict(rows) for part, rows in parts.items()}
            for where, parts in leaves.items()
            if any(any(rows.values()) for rows in parts.values())}  # fmt: skip


async def facts_of(database: Database) -> list[list[str]]:
    """The projected facts, in an order that does not depend on the storage."""
    async with database.reading() as session:
        facts = await store.facts(session, PROVINCE, None)
    return [sorted(map(repr, part)) for part in (facts.persons, facts.activities,
                                                   facts.protections, facts.supports,
                                                   facts.payments)]  # fmt: skip


Open = Callable[[], Awaitable[Database]]


async def empty(*databases: Database) -> None:
    for database in databases:
        async with database.transaction() as session:
            await store.clear_projections(session)
            await session.execute(delete(store.archive))


def nonzero(rows: dict[str, int]) -> dict[str, int]:
    return {key: value for key, value in rows.items() if value}


async def rows_after(
    open_database: Open, *payloads: EventPayload, at: str = "2026"
) -> dict[str, int]:
    database = await open_database()
    await consume(database, [sent(payload) for payload in payloads])
    return nonzero((await forms(database, [period(at)]))[0])


async def state_of(database: Database) -> dict[str, list[str]]:
    """Every projection table's rows, in an order that does not depend on the storage, and the
    open and overdue verifications of the province."""
    async with database.reading() as session:
        state = {table.name: sorted(repr(tuple(row)) for row in await session.execute(
            select(table))) for table in store.PROJECTIONS}  # fmt: skip
        state["verifications"] = [repr(await store.verifications(session, PROVINCE))]
    return state
