"""Case histories drawn as intents that always make sense: every decision follows its
reception, a merged case gets no more events, an approval follows its pending grant…"""

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from services.stats.domain import DESTINATIONS, FORMS, KINDS
from shared.events.base import EventPayload
from tests.services.stats.deliveries import (
    CASES,
    EPOCH,
    LOAN,
    PROVINCE,
    Sent,
    activity,
    amended,
    approved,
    consent,
    disbursed,
    granted,
    identified,
    merged,
    not_identified,
    ordered,
    overdue,
    received,
    referred,
    rejected,
    sent,
)


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
         "merge", "protect", "approve", "reject", "refer", "disburse", "duplicate",
         "overdue")  # fmt: skip
ACTIVITY_KINDS = ("directive_document", "communication_session", "training", "materials")
SERVICES = (LOAN, "shelter", "legal_aid")
SOURCES = ("state_budget", "donor:IOM", "donor:UNICEF")

intents = st.builds(
    Intent,
    step=st.sampled_from(STEPS),
    pick=st.integers(0, 20),
    other=st.integers(0, 20),
    day=st.dates(date(2025, 10, 1), date(2027, 3, 31)),
    delay=st.just(0) | st.integers(0, 200),  # the same day often: decisions then tie on date
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
    duplicates: set[str] = field(default_factory=set)  # merged at intake, never received
    revisions: dict[str, int] = field(default_factory=dict)  # the last decision's, per case
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

    def candidates(self, step: str) -> list[str]:  # noqa: C901 (a step each)
        """What the step may act on; nothing means it makes no sense now."""
        match step:
            case "receive":
                return [
                    case
                    for case in CASES
                    if case not in self.received and case not in self.duplicates
                ]
            case "duplicate":
                return self.candidates("receive") if self.open() else []
            case "overdue":
                return [case for case in self.open() if case not in self.decided]
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

    def sent(self, payload: EventPayload, revision: int | None = None) -> Sent:
        """The next event: ids and times in the order things happen."""
        n = len(self.events) + 1
        return sent(payload, f"evt-{n}", revision=revision, time=EPOCH + timedelta(minutes=n))

    def event(self, intent: Intent, subject: str) -> Sent:  # noqa: C901 (a step each)
        step = intent.step
        after = timedelta(days=intent.delay)
        if step == "redeliver":
            return self.events[int(subject)]
        if step == "activity":
            kind, province = one(ACTIVITY_KINDS, intent.choice), one((PROVINCE, "01"), intent.other)
            numbers = dict(zip(("sessions", "participants", "panels", "posters", "leaflets"),
                               intent.numbers, strict=True))  # fmt: skip
            reported = activity(self.new_id("act"), kind, intent.day, province, **numbers)
            return self.sent(reported)
        if step == "receive":
            self.received[subject] = intent.day
            return self.sent(received(subject, received_on=intent.day, **intent.person))
        if step in ("identify", "not_identify"):
            on = self.received[subject] + after
            self.decided[subject] = ("victim" if step == "identify" else "not_victim", on)
            self.revisions[subject] = 1
            if step == "identify":
                return self.sent(identified(subject, on, **intent.corrections), revision=1)
            return self.sent(not_identified(subject, on), revision=1)
        if step == "amend":
            previous, last = self.decided[subject]
            self.decided[subject] = (one(("victim", "not_victim"), intent.choice), last + after)
            outcome, on = self.decided[subject]
            self.revisions[subject] += 1
            change = amended(subject, outcome, on, previous, **intent.corrections)
            return self.sent(change, revision=self.revisions[subject])
        if step == "merge":
            into = one([case for case in self.open() if case != subject], intent.other)
            self.merged.add(subject)
            return self.sent(merged(subject, into))
        if step == "duplicate":  # a report merged at intake: no reception, only the merge
            self.duplicates.add(subject)
            return self.sent(merged(subject, one(self.open(), intent.other)))
        if step == "overdue":
            return self.sent(overdue(subject, self.received[subject] + after))
        if step == "protect":
            counts = [n % 3 + 1 for n in intent.numbers[: intent.choice % 3 + 1]]
            on = self.received[subject] + after
            return self.sent(ordered(subject, self.new_id("order"), on, *counts))
        if step == "grant":
            grant, kind = self.new_id("grant"), one(KINDS, intent.choice)
            status = one(("approved", "pending_approval"), intent.other)
            on = self.received[subject] + after
            (self.paying if status == "approved" else self.pending)[grant] = (subject, kind, on)
            return self.sent(granted(subject, grant, kind, on, status))
        if step in ("approve", "reject"):
            case, kind, on = self.pending.pop(subject)
            decide = approved if step == "approve" else rejected
            if step == "approve":
                self.paying[subject] = (case, kind, on)
            return self.sent(decide(case, subject, kind, on + after))
        if step == "refer":
            service, on = one(SERVICES, intent.choice), self.received[subject] + after
            return self.sent(referred(subject, self.new_id("ref"), service, on))
        assert step == "disburse"
        case, kind, on = self.paying[subject]
        amount = intent.numbers[0] * 125_000 + intent.numbers[1]
        return self.sent(disbursed(case, subject, self.new_id("paid"), kind, amount, on + after,
                                   one(SOURCES, intent.choice)))  # fmt: skip


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
