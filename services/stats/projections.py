"""How each event changes the projections. The same code serves live consumption and a rebuild
from the archive: it takes the event's envelope, as archived.

Order and duplicates: each event writes only the facts it owns, and whichever event of a row
arrives first creates it, so the projections are a function of the set of events seen, not of
their order; a redelivery is never projected twice (the archive's key), and projecting one
again would change nothing. Decisions are kept, each under its own id, and the latest is chosen
when the form is counted (``domain.decided``), by its own date and revision, not by arrival."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, false, func, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.stats import domain, store
from shared.db import upsert

LOAN = "social_policy_bank_loan"
SHELTER = "shelter"


@dataclass(frozen=True, slots=True)
class Archived:
    """An event as the archive keeps it: its id, type, time and JSON data."""

    id: str
    type: str
    time: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, envelope: dict[str, Any]) -> "Archived":
        time = datetime.fromisoformat(envelope["time"])
        return cls(envelope["id"], envelope["type"], time, envelope["data"])


@dataclass(frozen=True)
class Write:
    """Facts an event owns in a projection row: inserted, or set on the row if it exists (the
    other events' columns untouched). An approval sets ``approved`` so that a rejection is
    never undone by an approval, whatever their order (support decides a grant once; this
    keeps a replay's oddity harmless)."""

    table: Table
    values: Mapping[str, Any]
    approval: bool = False

    @property
    def shape(self) -> tuple[str, tuple[str, ...], bool | None]:
        """Writes of one shape share a statement."""
        approved = self.values["approved"] if self.approval else None
        return self.table.name, tuple(sorted(self.values)), approved

    @property
    def key(self) -> tuple[Any, ...]:
        return tuple(self.values[c.name] for c in self.table.primary_key.columns)


async def write_all(session: AsyncSession, writes: Iterable[Write]) -> None:
    """Every write, a statement per shape executed for many rows at once. A row written twice
    by writes of one shape waits for the next statement (one statement may change a row once)."""
    pending: dict[tuple[str, tuple[str, ...], bool | None], list[Write]] = {}
    keys: dict[tuple[str, tuple[str, ...], bool | None], set[tuple[Any, ...]]] = {}
    for write in writes:
        shape = write.shape
        if write.key in keys.setdefault(shape, set()):
            await _execute(session, pending.pop(shape))
            keys[shape] = set()
        pending.setdefault(shape, []).append(write)
        keys[shape].add(write.key)
    for batch in pending.values():
        await _execute(session, batch)


async def _execute(session: AsyncSession, writes: list[Write]) -> None:
    first = writes[0]
    table = first.table
    key = [c.name for c in table.primary_key.columns]
    statement = upsert(session, table)
    if first.approval:
        approved = func.coalesce(table.c.approved, true()) if first.values["approved"] else false()
        excluded = statement.excluded
        changes: dict[str, Any] = {"case_id": excluded.case_id, "kind": excluded.kind,
                                   "approved": approved}  # fmt: skip
    else:
        changes = {name: statement.excluded[name] for name in first.values if name not in key}
    statement = (statement.on_conflict_do_update(index_elements=key, set_=changes) if changes
                 else statement.on_conflict_do_nothing(index_elements=key))  # fmt: skip
    await session.execute(statement, [dict(write.values) for write in writes])


Projector = Callable[[Archived], Write | None]
"""What an event writes: a projection row's owned facts (``Write``)."""


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def received(event: Archived) -> Write:
    data = event.data
    return Write(store.persons, {
        "case_id": data["case_id"], "received_on": _day(data["received_on"]),
        "province": data["province"], "ward": data.get("ward"), "sex": data["sex"],
        "age": data.get("age"), "ethnicity": data.get("ethnicity"),
        "nationality": data.get("nationality"), "scope": data["trafficking_scope"],
        "destination": data.get("destination_country"),
        "reception_form": data["reception_form"], "purposes": list(data.get("purposes") or []),
        "consent_statistics": bool(data["consent"]["statistics"]),
    })  # fmt: skip


def merged(event: Archived) -> Write:
    values = {"case_id": event.data["case_id"], "merged_into": event.data["into"]}
    return Write(store.persons, values)


def overdue(event: Archived) -> Write:
    return Write(store.persons, {"case_id": event.data["case_id"], "overdue": True})


def _decision(outcome: str | None) -> Projector:
    """A decision (identified, not identified, or amended to its ``outcome``), kept as made."""

    def decide(event: Archived) -> Write:
        data = event.data
        corrections = data.get("corrections") or {}
        revision = data.get("revision")
        return Write(store.decisions, {
            "event_id": event.id, "case_id": data["case_id"],
            "decided_on": _day(data["decided_on"]),
            "revision": revision if isinstance(revision, int) else None, "at": event.time,
            "victim": (outcome or data["outcome"]) == "victim",
            "scope": corrections.get("scope") or None,
            "destination": corrections.get("destination_country") or None,
        })  # fmt: skip

    return decide


def protected(event: Archived) -> Write:
    data = event.data
    persons = sum(int(p["count"]) for p in data["protected"])
    return Write(store.protections, {"order_id": data["order_id"],
                    "case_id": data["case_id"], "starts_on": _day(data["starts_on"]),
                    "persons": persons})  # fmt: skip


def activity(event: Archived) -> Write:
    data = event.data
    return Write(store.activities, {
        "activity_id": data["activity_id"], "kind": data["kind"],
        "held_on": _day(data["held_on"]), "province": data["province"],
        "ward": data.get("ward"),
        **{k: int(data.get(k, 0)) for k in ("sessions", "participants", "panels", "posters",
                                             "leaflets")},
    })  # fmt: skip


def granted(event: Archived) -> Write:
    data = event.data
    return Write(store.supports, {"support_id": data["grant_id"],
                    "case_id": data["case_id"], "kind": data["kind"],
                    "on": _day(data["granted_on"]),
                    "granted": data["status"] == "approved"})  # fmt: skip


def _approval(approved: bool) -> Projector:
    def decide(event: Archived) -> Write:
        data = event.data
        return Write(store.supports, {"support_id": data["grant_id"],
                           "case_id": data["case_id"], "kind": data["kind"],
                           "approved": approved}, approval=True)  # fmt: skip

    return decide


REFERRAL_KINDS = {LOAN: "loan", SHELTER: domain.SHELTER_NEEDED}


def referred(event: Archived) -> Write | None:
    """A loan is counted as the referral to the bank; a shelter referral as the need of one."""
    data = event.data
    if kind := REFERRAL_KINDS.get(data["service"]):
        return Write(store.supports, {"support_id": data["referral_id"],
                        "case_id": data["case_id"], "kind": kind,
                        "on": _day(data["referred_on"]), "granted": True})  # fmt: skip
    return None


def disbursed(event: Archived) -> Write:
    data = event.data
    return Write(store.payments, {
        "disbursement_id": data["disbursement_id"], "case_id": data["case_id"],
        "kind": data["kind"], "paid_on": _day(data["paid_on"]), "amount": int(data["amount"]),
        "funding_source": data["funding_source"], "province": data["province"],
        "ward": data.get("ward"),
    })  # fmt: skip


PROJECTORS: dict[str, Projector] = {
    "case.received": received,
    "case.merged": merged,
    "case.identified": _decision("victim"),
    "case.not_identified": _decision("not_victim"),
    "case.identification_amended": _decision(None),  # its own outcome
    "verification.overdue": overdue,
    "protection.ordered": protected,
    "activity.reported": activity,
    "support.granted": granted,
    "support.approved": _approval(approved=True),
    "support.rejected": _approval(approved=False),
    "support.referred": referred,
    "support.disbursed": disbursed,
}


def writes(envelopes: Iterable[dict[str, Any]]) -> list[Write]:
    """What the events (archived envelopes) write to the projections."""
    found = []
    for envelope in envelopes:
        projector = PROJECTORS.get(envelope["type"])
        if projector is not None and (write := projector(Archived.of(envelope))) is not None:
            found.append(write)
    return found


async def project(session: AsyncSession, envelopes: Iterable[dict[str, Any]]) -> None:
    """Apply archived events (their CloudEvents envelopes) to the projections, in as few
    statements as they allow."""
    await write_all(session, writes(envelopes))
