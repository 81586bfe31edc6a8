"""Projections: every event archived once and projected in arrival order gives the form a plain
recount of the deduplicated events gives, whatever the redeliveries and however late the
business dates; and the projections rebuilt from the archive give it again."""

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.stats import projections, store
from services.stats.domain import DESTINATIONS, FORMS, KEYS, KINDS, SUPPORT_ROWS, Period, form
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
    VerificationOpened,
)

PROVINCE = "11"
SOURCE = "/safereturn/test"
LOAN = "social_policy_bank_loan"
CASES = tuple(f"case-{n}" for n in range(5))
PERIODS = (*(period(name) for name in ("2025-Q4", "2026-Q1", "2026-Q2", "2026-H2", "2026",
                                        "2027-Q1", "2027")),
           Period(date(2025, 1, 1), date(2028, 12, 31)))  # fmt: skip


# --- events as stats receives them --------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One delivery of an event: its id (the same on a redelivery), type and JSON data."""

    event_id: str
    type: str
    data: dict[str, Any]


def sent(payload: EventPayload, event_id: str | None = None) -> Sent:
    return Sent(event_id or secrets.token_hex(8), payload.event_type,
                payload.model_dump(mode="json"))  # fmt: skip


def archive_row(event: Sent) -> dict[str, Any]:
    """The archive's values, as ``services/stats/handlers.py`` makes them."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
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


async def deliver(session: AsyncSession, event: Sent) -> bool:
    """Archived first, projected only if new, as the handler does; whether it was new."""
    new = await store.archived(session, archive_row(event))
    if new:
        await projections.project(session, event.type, event.data)
    return new


async def consume(database: Database, events: Iterable[Sent], *, batch: bool = False) -> list[bool]:
    """Each event in its own transaction, as the consumer commits them (or all of them in one,
    which changes nothing but the time taken); whether each one was new."""
    if batch:
        async with database.transaction() as session:
            return [await deliver(session, event) for event in events]
    news = []
    for event in events:
        async with database.transaction() as session:
            news.append(await deliver(session, event))
    return news


async def replay_archive(source: Database, target: Database, page_size: int = 4) -> int:
    """Project every archived event of ``source`` into ``target``, page by page, in one
    transaction (as ``safereturn stats rebuild`` does); how many."""
    count, after = 0, 0
    async with source.reading() as reading, target.transaction() as session:
        await store.clear_projections(session)
        while page := await store.archive_page(reading, after, page_size):
            for row in page:
                await projections.project(session, row.type, row.envelope["data"])
            count, after = count + len(page), page[-1].seq
    return count


async def rebuild_in_place(database: Database, page_size: int = 3) -> int:
    count, after = 0, 0
    async with database.transaction() as session:
        await store.clear_projections(session)
        while page := await store.archive_page(session, after, page_size):
            for row in page:
                await projections.project(session, row.type, row.envelope["data"])
            count, after = count + len(page), page[-1].seq
    return count


async def forms(database: Database, periods: Iterable[Period] = PERIODS) -> list[dict[str, int]]:
    async with database.reading() as session:
        facts = await store.facts(session, PROVINCE, None)
    return [form(chosen, facts) for chosen in periods]


async def facts_of(database: Database) -> list[list[str]]:
    """The projected facts, in an order that does not depend on the storage."""
    async with database.reading() as session:
        facts = await store.facts(session, PROVINCE, None)
    return [sorted(map(repr, part)) for part in (facts.persons, facts.activities,
                                                   facts.protections, facts.supports,
                                                   facts.payments)]  # fmt: skip


# --- an independent recount ---------------------------------------------------------------------


@dataclass
class Recount:
    """The deduplicated events replayed into plain dicts."""

    persons: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, tuple[str, date, int]] = field(default_factory=dict)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)
    loans: dict[str, tuple[str, date]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, kind: str, data: dict[str, Any]) -> None:
        day = {key: date.fromisoformat(value) for key, value in data.items()
               if key.endswith("_on") and isinstance(value, str)}  # fmt: skip
        who = self.persons.get(data.get("case_id", ""))
        if kind == "case.received":
            self.persons[data["case_id"]] = {
                "received_on": day["received_on"], "sex": data["sex"], "age": data["age"],
                "ethnicity": data["ethnicity"], "nationality": data["nationality"],
                "scope": data["trafficking_scope"], "destination": data["destination_country"],
                "form": data["reception_form"], "consent": data["consent"]["statistics"],
                "merged": False, "victim_since": None,
            }  # fmt: skip
        elif kind == "case.merged":
            self.persons[data["case_id"]]["merged"] = True
        elif kind in ("case.identified", "case.identification_amended", "case.not_identified"):
            assert who is not None
            victim = kind == "case.identified" or data.get("outcome") == "victim"
            who["victim_since"] = day["decided_on"] if victim else None
            corrections = data.get("corrections") or {}
            who["scope"] = corrections.get("scope") or who["scope"]
            who["destination"] = corrections.get("destination_country") or who["destination"]
        elif kind == "protection.ordered":
            persons = sum(p["count"] for p in data["protected"])
            self.orders[data["order_id"]] = (data["case_id"], day["starts_on"], persons)
        elif kind == "activity.reported":
            self.activities[data["activity_id"]] = data | {"held_on": day["held_on"]}
        elif kind == "support.granted":
            self.grants[data["grant_id"]] = {"case": data["case_id"], "kind": data["kind"],
                                             "on": day["granted_on"],
                                             "effective": data["status"] == "approved"}  # fmt: skip
        elif kind in ("support.approved", "support.rejected"):
            self.grants[data["grant_id"]]["effective"] = kind == "support.approved"
        elif kind == "support.referred" and data["service"] == LOAN:
            self.loans[data["referral_id"]] = (data["case_id"], day["referred_on"])
        elif kind == "support.disbursed":
            self.payments[data["disbursement_id"]] = data | {"paid_on": day["paid_on"]}


def recount_of(events: Iterable[Sent]) -> Recount:
    recount, seen = Recount(), set()
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            recount.apply(event.type, event.data)
    return recount


def count_form(chosen: Period, recount: Recount) -> dict[str, int]:
    """The documented counting rules, row by row, from the recount."""

    def inside(day: date | None) -> bool:
        return day is not None and chosen.start <= day <= chosen.end

    rows = dict.fromkeys(KEYS, 0)
    people = {case: p for case, p in recount.persons.items() if not p["merged"]}
    victims = [p for p in people.values() if inside(p["victim_since"])]
    rows["I.1"] = sum(inside(p["received_on"]) for p in people.values())
    rows["I.2"] = len(victims)
    rows |= described_rows([p for p in victims if p["consent"]])
    rows["I.3"] = sum(n for case, on, n in recount.orders.values() if case in people and inside(on))
    for a in recount.activities.values():
        if a["province"] == PROVINCE and inside(a["held_on"]):
            add_activity(rows, a)
    # II.4.1 counts every person helped; the rows below it only those who consented.
    helped = [(g["case"], g["kind"]) for g in recount.grants.values()
              if g["effective"] and g["case"] in people and inside(g["on"])]  # fmt: skip
    helped += [(case, "loan") for case, on in recount.loans.values()
               if case in people and inside(on)]  # fmt: skip
    rows["II.4.1"] = len({case for case, _ in helped})
    helped = [(case, kind) for case, kind in helped if people[case]["consent"]]
    for row, kinds in SUPPORT_ROWS.items():
        rows[row] = len({case for case, kind in helped if kind in kinds})
    rows["II.4.4.loan"] = len({case for case, kind in helped if kind == "loan"})
    for paid in recount.payments.values():
        if paid["province"] == PROVINCE and inside(paid["paid_on"]):
            rows["II.4.5.vnd"] += paid["amount"]
            rows[f"II.4.5.vnd.{paid['kind']}"] += paid["amount"]
            donor = paid["funding_source"].startswith("donor")
            rows["II.4.5.vnd.donor" if donor else "II.4.5.vnd.state_budget"] += paid["amount"]
    return rows


def described_rows(described: list[dict[str, Any]]) -> dict[str, int]:
    """The I.2 breakdowns of the victims who consented to statistics."""

    def number(**wanted: Any) -> int:
        """How many have every value wanted (a callable: a test of the value)."""

        def fits(value: Any, want: Any) -> bool:
            return bool(want(value)) if callable(want) else value == want

        return len([p for p in described if all(fits(p[k], w) for k, w in wanted.items())])

    def under(years: int) -> Callable[[int | None], bool]:
        return lambda age: age is not None and age < years

    rows = {}
    for sex in ("male", "female"):
        rows[f"I.2.a.{sex}"] = number(sex=sex)
        rows[f"I.2.a.{sex}.under18"] = number(sex=sex, age=under(18))
        rows[f"I.2.a.{sex}.under16"] = number(sex=sex, age=under(16))
    rows["I.2.b.kinh"] = number(ethnicity="01")
    rows["I.2.b.other"] = number(ethnicity=lambda e: e not in (None, "01"))
    rows["I.2.c.foreign"] = number(nationality=lambda n: n not in (None, "VN"))
    rows["I.2.d.domestic"] = number(scope="domestic")
    rows["I.2.d.abroad"] = number(scope="abroad")
    for country in DESTINATIONS:
        rows[f"I.2.d.abroad.{country}"] = number(scope="abroad", destination=country)
    rows["I.2.d.abroad.other"] = number(scope="abroad", destination=lambda d: d not in DESTINATIONS)
    for reception_form in FORMS:
        rows[f"I.2.e.{reception_form}"] = number(form=reception_form)
    return rows


def add_activity(rows: dict[str, int], a: dict[str, Any]) -> None:
    if a["kind"] == "directive_document":
        rows["II.1"] += a["sessions"] or 1  # a document reported with no count is one
    elif a["kind"] == "training":
        rows["II.3.trainings"] += a["sessions"]
        rows["II.3.participants"] += a["participants"]
    else:  # communication sessions and materials
        rows["II.2.sessions"] += a["sessions"]
        rows["II.2.participants"] += a["participants"]
    for item in ("panels", "posters", "leaflets"):
        rows[f"II.2.{item}"] += a[item]


# --- histories that make sense ------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """What a delivery tries to do, with every choice it may need drawn up front; the history
    skips an intent that makes no sense at its point (so a shorter list still makes sense)."""

    step: str
    pick: int  # which case, grant or earlier delivery
    other: int  # the case merged into
    day: date  # a reception's or an activity's business date
    delay: int  # days after the fact it follows (a decision after its reception…)
    choice: int  # outcome, status, kind, service, funding source…
    person: dict[str, Any]  # a reception's coded facts
    corrections: dict[str, str | None]
    numbers: tuple[int, ...]


STEPS = ("receive", "identify", "grant", "activity", "redeliver", "not_identify", "amend",
         "merge", "protect", "approve", "reject", "refer", "disburse")  # fmt: skip
ACTIVITY_KINDS = ("directive_document", "communication_session", "training", "materials")
SERVICES = (LOAN, "shelter", "legal_aid")
SOURCES = ("state_budget", "donor:IOM", "donor:UNICEF")

intents = st.builds(
    Intent,
    step=st.sampled_from(STEPS),
    pick=st.integers(0, 20),
    other=st.integers(0, 20),
    day=st.dates(date(2025, 10, 1), date(2027, 3, 31)),
    delay=st.integers(0, 200),
    choice=st.integers(0, 20),
    person=st.fixed_dictionaries({
        "sex": st.sampled_from(["male", "female", "unknown"]),
        "age": st.none() | st.integers(14, 19) | st.integers(0, 40),
        "ethnicity": st.sampled_from([None, "01", "02", "53"]),
        "nationality": st.sampled_from([None, "VN", "LA"]),
        "trafficking_scope": st.sampled_from(["domestic", "abroad", "unknown"]),
        "destination_country": st.sampled_from([None, *DESTINATIONS, "KR"]),
        "reception_form": st.sampled_from([*FORMS, "suspected"]),
        "consent": st.booleans().map(consent),
    }),
    corrections=st.just({}) | st.fixed_dictionaries({
        "scope": st.none() | st.sampled_from(["domestic", "abroad"]),
        "destination_country": st.none() | st.sampled_from(["TH", "KR"]),
    }),
    numbers=st.tuples(*[st.integers(0, 40)] * 5),
)  # fmt: skip


def one(options: list[Any] | tuple[Any, ...], index: int) -> Any:
    return options[index % len(options)]


@dataclass
class World:
    """What has happened so far, so that each next delivery makes sense."""

    events: list[Sent] = field(default_factory=list)
    received: dict[str, date] = field(default_factory=dict)
    merged: set[str] = field(default_factory=set)
    decided: dict[str, tuple[str, date]] = field(default_factory=dict)  # outcome, date
    pending: dict[str, tuple[str, str, date]] = field(default_factory=dict)  # case, kind, on
    paying: dict[str, tuple[str, str, date]] = field(default_factory=dict)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{len(self.events) + 1}"

    def open(self) -> list[str]:
        """Cases received and not merged: a merged case gets no more events."""
        return [case for case in CASES if case in self.received and case not in self.merged]

    def grants(self, grants: dict[str, tuple[str, str, date]]) -> list[str]:
        return sorted(g for g, (case, _, _) in grants.items() if case not in self.merged)

    def candidates(self, step: str) -> list[str]:
        """What the step may act on; nothing means it makes no sense now."""
        match step:
            case "receive":
                return [case for case in CASES if case not in self.received]
            case "identify" | "not_identify":
                return [case for case in self.open() if case not in self.decided]
            case "amend":
                return [case for case in self.open() if case in self.decided]
            case "merge":
                return self.open() if len(self.open()) >= 2 else []
            case "approve" | "reject":
                return self.grants(self.pending)
            case "disburse":
                return self.grants(self.paying)
            case "redeliver":
                return [str(n) for n in range(len(self.events))]
            case "activity":
                return ["-"]
        return self.open()  # protect, grant, refer

    def deliver(self, intent: Intent) -> None:
        """The intent, or a reception instead if it makes no sense yet and a case is left."""
        if not self.candidates(intent.step) and self.candidates("receive"):
            intent = replace(intent, step="receive")
        if options := self.candidates(intent.step):
            self.events.append(self.event(intent, one(options, intent.pick)))

    def event(self, intent: Intent, subject: str) -> Sent:  # noqa: C901 (a step each)
        step, event_id = intent.step, f"evt-{len(self.events) + 1}"
        after = timedelta(days=intent.delay)
        if step == "redeliver":
            return self.events[int(subject)]
        if step == "activity":
            kind, province = one(ACTIVITY_KINDS, intent.choice), one((PROVINCE, "01"), intent.other)
            numbers = dict(zip(("sessions", "participants", "panels", "posters", "leaflets"),
                               intent.numbers, strict=True))  # fmt: skip
            return sent(activity(self.new_id("act"), kind, intent.day, province, **numbers),
                        event_id)  # fmt: skip
        if step == "receive":
            self.received[subject] = intent.day
            return sent(received(subject, received_on=intent.day, **intent.person), event_id)
        if step in ("identify", "not_identify"):
            on = self.received[subject] + after
            self.decided[subject] = ("victim" if step == "identify" else "not_victim", on)
            if step == "identify":
                return sent(identified(subject, on, **intent.corrections), event_id)
            return sent(not_identified(subject, on), event_id)
        if step == "amend":
            previous, last = self.decided[subject]
            self.decided[subject] = (one(("victim", "not_victim"), intent.choice), last + after)
            outcome, on = self.decided[subject]
            return sent(amended(subject, outcome, on, previous, **intent.corrections), event_id)
        if step == "merge":
            into = one([case for case in self.open() if case != subject], intent.other)
            self.merged.add(subject)
            return sent(merged(subject, into), event_id)
        if step == "protect":
            counts = [n % 3 + 1 for n in intent.numbers[: intent.choice % 3 + 1]]
            on = self.received[subject] + after
            return sent(ordered(subject, self.new_id("order"), on, *counts), event_id)
        if step == "grant":
            grant, kind = self.new_id("grant"), one(KINDS, intent.choice)
            status = one(("approved", "pending_approval"), intent.other)
            on = self.received[subject] + after
            (self.paying if status == "approved" else self.pending)[grant] = (subject, kind, on)
            return sent(granted(subject, grant, kind, on, status), event_id)
        if step in ("approve", "reject"):
            case, kind, on = self.pending.pop(subject)
            decide = approved if step == "approve" else rejected
            if step == "approve":
                self.paying[subject] = (case, kind, on)
            return sent(decide(case, subject, kind, on + after), event_id)
        if step == "refer":
            service, on = one(SERVICES, intent.choice), self.received[subject] + after
            return sent(referred(subject, self.new_id("ref"), service, on), event_id)
        assert step == "disburse"
        case, kind, on = self.paying[subject]
        amount = intent.numbers[0] * 125_000 + intent.numbers[1]
        return sent(disbursed(case, subject, self.new_id("paid"), kind, amount, on + after,
                              one(SOURCES, intent.choice)), event_id)  # fmt: skip


def history(wanted: list[Intent]) -> list[Sent]:
    world = World()
    for intent in wanted:
        world.deliver(intent)
    return world.events


histories = st.lists(st.lists(intents, max_size=10), max_size=8).map(
    lambda chunks: history([intent for chunk in chunks for intent in chunk][:60])
)
"""Deliveries in arrival order: redeliveries of earlier events anywhere after them, and
business dates in no particular order (a late event lands in an earlier period)."""


# --- the property -------------------------------------------------------------------------------

Open = Callable[[], Awaitable[Database]]


@pytest.fixture
async def open_database(new_database_url: Callable[[], Awaitable[str]]) -> AsyncIterator[Open]:
    """Opens empty stats databases (of the parametrised kind) and disposes of them after."""
    opened: list[Database] = []

    async def new() -> Database:
        opened.append(await new_database(await new_database_url()))
        return opened[-1]

    yield new
    for database in opened:
        await database.dispose()


@pytest.fixture
async def two_databases(open_database: Open) -> tuple[Database, Database]:
    """Made once for all the examples of a property, emptied by each."""
    return await open_database(), await open_database()


async def empty(*databases: Database) -> None:
    for database in databases:
        async with database.transaction() as session:
            await store.clear_projections(session)
            await session.execute(delete(store.archive))


@pytest.mark.timeout(420)  # passing takes seconds; shrinking a failure can take five minutes
@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=histories)
async def test_the_projected_form_equals_a_recount_and_a_rebuild_from_the_archive(
    events: list[Sent], two_databases: tuple[Database, Database]
) -> None:
    note("\n".join(f"{e.event_id} {e.type} {e.data}" for e in events))
    live, rebuilt = two_databases
    await empty(live, rebuilt)
    news = await consume(live, events, batch=True)
    assert sum(news) == len({event.event_id for event in events})
    incremental = await forms(live)
    assert await replay_archive(live, rebuilt) == sum(news)
    assert await forms(rebuilt) == incremental
    assert await facts_of(rebuilt) == await facts_of(live)
    await rebuild_in_place(live)
    assert await forms(live) == incremental
    recount = recount_of(events)
    for chosen, theirs in zip(PERIODS, incremental, strict=True):
        assert nonzero(theirs) == nonzero(count_form(chosen, recount)), chosen.name


def nonzero(rows: dict[str, int]) -> dict[str, int]:
    return {key: value for key, value in rows.items() if value}


# --- examples, on SQLite and PostgreSQL ---------------------------------------------------------


async def rows_after(open_database: Open, *payloads: EventPayload, at: str = "2026") -> dict:
    database = await open_database()
    await consume(database, [sent(payload) for payload in payloads])
    return nonzero((await forms(database, [period(at)]))[0])


async def test_a_redelivered_event_is_archived_once_and_changes_nothing(
    open_database: Open,
) -> None:
    database = await open_database()
    case = sent(received("case-1"))
    grant = sent(granted("case-1", "g-1", "clothing", date(2026, 2, 1), "pending_approval"))
    approval = sent(approved("case-1", "g-1", "clothing", date(2026, 2, 2)))
    decision = sent(identified("case-1", date(2026, 2, 3)))
    amendment = sent(amended("case-1", "not_victim", date(2026, 5, 1)))
    history = [case, grant, approval, decision, amendment, case, grant, decision, approval]
    assert await consume(database, history) == [True] * 5 + [False] * 4
    (rows,) = await forms(database, [period("2026")])
    assert nonzero(rows) == {"I.1": 1, "II.4.1": 1, "II.4.2": 1}


async def test_an_amended_identification_moves_the_person_to_the_period_of_the_new_date(
    open_database: Open,
) -> None:
    database = await open_database()
    await consume(database, [sent(received("case-1")),
                             sent(identified("case-1", date(2026, 3, 20))),
                             sent(amended("case-1", "victim", date(2026, 4, 2)))])  # fmt: skip
    first, second = await forms(database, [period("2026-Q1"), period("2026-Q2")])
    assert (first["I.1"], first["I.2"], first["I.2.a.female"]) == (1, 0, 0)
    assert (second["I.1"], second["I.2"], second["I.2.a.female"]) == (0, 1, 1)


async def test_an_amendment_to_not_a_victim_takes_the_person_out_of_i2_only(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, received("case-1"),
                            identified("case-1", date(2026, 2, 1)),
                            amended("case-1", "not_victim", date(2026, 3, 1)))  # fmt: skip
    assert rows == {"I.1": 1}


async def test_a_person_not_identified_and_later_amended_to_a_victim_counts_in_i2(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, received("case-1"),
                            not_identified("case-1", date(2026, 2, 1)),
                            amended("case-1", "victim", date(2027, 1, 5), "not_victim"),
                            at="2027")  # fmt: skip
    assert rows == {"I.2": 1, "I.2.a.female": 1, "I.2.b.kinh": 1, "I.2.d.abroad": 1,
                    "I.2.d.abroad.CN": 1, "I.2.e.rescued": 1}  # fmt: skip


async def test_corrections_at_identification_replace_the_scope_and_destination(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, received("case-1"), received("case-2"),
                            identified("case-1", date(2026, 2, 1), destination_country="KR"),
                            identified("case-2", date(2026, 2, 1), scope="domestic"))  # fmt: skip
    assert rows["I.2.d.abroad"] == rows["I.2.d.abroad.other"] == 1
    assert rows["I.2.d.domestic"] == 1
    assert "I.2.d.abroad.CN" not in rows


async def test_a_merged_duplicate_counts_once_with_what_was_done_for_the_kept_case(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, received("case-1"), received("case-2"),
                            identified("case-2", date(2026, 2, 1)),
                            ordered("case-2", "o-2", date(2026, 2, 2), 1, 2),
                            granted("case-2", "g-2", "legal_aid", date(2026, 2, 2)),
                            merged("case-2", into="case-1"),
                            identified("case-1", date(2026, 2, 5)),
                            ordered("case-1", "o-1", date(2026, 2, 6), 1))  # fmt: skip
    assert rows["I.1"] == rows["I.2"] == rows["I.2.a.female"] == rows["I.3"] == 1
    assert rows.get("II.4.1", 0) == 0


async def test_a_grant_awaiting_approval_counts_once_approved_and_never_if_rejected(
    open_database: Open,
) -> None:
    day = date(2026, 2, 1)
    waiting = await rows_after(
        open_database,
        received("case-1"),
        granted("case-1", "g-1", "education", day, "pending_approval"),
    )
    assert waiting.get("II.4.1", 0) == 0
    yes = await rows_after(
        open_database,
        received("case-1"),
        granted("case-1", "g-1", "education", day, "pending_approval"),
        approved("case-1", "g-1", "education", date(2027, 1, 1)),
    )
    assert (yes["II.4.1"], yes["II.4.4.education"]) == (1, 1)  # counted on the grant's date
    no = await rows_after(
        open_database,
        received("case-1"),
        granted("case-1", "g-1", "education", day, "pending_approval"),
        rejected("case-1", "g-1", "education", day),
    )
    assert no.get("II.4.1", 0) == 0


async def test_only_a_referral_to_the_social_policy_bank_counts_as_a_loan(
    open_database: Open,
) -> None:
    rows = await rows_after(
        open_database,
        received("case-1"),
        received("case-2"),
        referred("case-1", "r-1", LOAN, date(2026, 3, 1)),
        referred("case-2", "r-2", "vocational_training", date(2026, 3, 1)),
    )
    assert (rows["II.4.1"], rows["II.4.4.loan"]) == (1, 1)
    assert rows.get("II.4.4.vocational", 0) == 0


async def test_money_is_counted_by_payment_date_kind_and_funding_source(
    open_database: Open,
) -> None:
    rows = await rows_after(
        open_database, received("case-1"),
        granted("case-1", "g-1", "shelter_meals", date(2025, 12, 30)),
        disbursed("case-1", "g-1", "d-1", "shelter_meals", 600_000, date(2025, 12, 31)),
        disbursed("case-1", "g-1", "d-2", "shelter_meals", 900_000, date(2026, 1, 2),
                  "donor:IOM"),
        disbursed("case-1", "g-1", "d-3", "shelter_meals", 100_000, date(2026, 1, 3)),
    )  # fmt: skip
    assert {key: value for key, value in rows.items() if key.startswith("II.4.5")} == {
        "II.4.5.vnd": 1_000_000, "II.4.5.vnd.shelter_meals": 1_000_000,
        "II.4.5.vnd.state_budget": 100_000, "II.4.5.vnd.donor": 900_000,
    }  # fmt: skip


async def test_the_facts_of_a_province_leave_out_other_provinces(open_database: Open) -> None:
    day = date(2026, 4, 1)
    rows = await rows_after(
        open_database,
        received("case-1"),
        received("case-2", province="01"),
        activity("a-1", "training", day, sessions=1, participants=9),
        activity("a-2", "training", day, "01", sessions=5, participants=50),
    )
    assert rows == {"I.1": 1, "II.3.trainings": 1, "II.3.participants": 9}


async def test_an_event_stats_does_not_count_is_archived_and_projects_nothing(
    open_database: Open,
) -> None:
    database = await open_database()
    opened = VerificationOpened(case_id="case-1", task_id="t-1", agencies=["commune_police"],
                                level="commune", province=PROVINCE, due_on=date(2026, 2, 1),
                                legal_basis="Luật 53/2024", limit_known=True)  # fmt: skip
    assert await consume(database, [sent(opened)]) == [True]
    assert await facts_of(database) == [[], [], [], [], []]


async def test_the_projections_cleared_and_replayed_from_the_archive_give_the_same_form(
    open_database: Open,
) -> None:
    database, copy = await open_database(), await open_database()
    history = [sent(received("case-1")), sent(received("case-2", sex="male", age=15)),
               sent(identified("case-2", date(2026, 7, 1))),
               sent(granted("case-2", "g-1", "road_meals", date(2026, 7, 2), "pending_approval")),
               sent(approved("case-2", "g-1", "road_meals", date(2026, 7, 3))),
               sent(merged("case-1", "case-2")),
               sent(activity("a-1", "directive_document", date(2026, 1, 5)))]  # fmt: skip
    await consume(database, history + history[:3])
    before = await forms(database)
    assert await replay_archive(database, copy) == len(history)
    assert await rebuild_in_place(database) == len(history)
    assert await forms(database) == await forms(copy) == before
    assert nonzero(before[4]) == {
        "I.1": 1, "I.2": 1, "I.2.a.male": 1, "I.2.a.male.under18": 1, "I.2.a.male.under16": 1,
        "I.2.b.kinh": 1, "I.2.d.abroad": 1, "I.2.d.abroad.CN": 1, "I.2.e.rescued": 1, "II.1": 1,
        "II.4.1": 1, "II.4.2": 1,
    }  # fmt: skip
