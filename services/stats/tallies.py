"""The form's sums by area, day and row, kept as events arrive, so a form costs the same
whatever the history behind it (``contributions`` says what is summed and why).

Each projected event *touches* owners: a case (and for a merge, the case it was merged into),
an activity, a payment. Before the transaction commits, ``settle`` works out again what each
touched owner contributes — a case through the case it counts as, with its merged duplicates —
from the projections as they now stand, and moves the sums by the difference. What an owner
contributes depends only on the projections, never on the order events came in, so neither do
the sums.

Two stats replicas on PostgreSQL settle one at a time (a transaction-level advisory lock taken
after the projections are written): the later one reads what the earlier one committed. On
SQLite a writing transaction holds the database's write lock from its start."""

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.stats import contributions as rules
from services.stats import domain, store
from services.stats.disclosure import NO_WARD, PARTS, period_name
from shared.areas import province_of
from shared.db import upsert
from shared.runtime import Platform

log = logging.getLogger(__name__)

LOCK = 0x5354_4154  # "STAT": settling is one replica at a time
CHUNK = 500  # owners read at once (bound parameters per statement stay well under limits)
FILLED = "tallies"  # a counter: 1 once the sums were worked out from every projection

CaseOwner, ActivityOwner, PaymentOwner = "case:", "activity:", "payment:"
Sums = Counter[tuple[str, str, date, date]]  # (area, row, day, last) → change


@dataclass
class Touched:
    """The owners a transaction's events touched, to be settled before it commits."""

    cases: set[str] = field(default_factory=set)
    activities: set[str] = field(default_factory=set)
    payments: set[str] = field(default_factory=set)
    events: int = 0  # newly archived

    def __bool__(self) -> bool:
        return bool(self.cases or self.activities or self.payments or self.events)

    def add(self, envelope: Mapping[str, Any]) -> None:
        """What one newly archived event (its CloudEvents envelope) touches."""
        self.events += 1
        kind, data = envelope["type"], envelope["data"]
        if kind == "activity.reported":
            self.activities.add(data["activity_id"])
        elif kind == "support.disbursed":
            self.payments.add(data["disbursement_id"])
        elif kind != "verification.overdue" and "case_id" in data:
            self.cases.add(data["case_id"])
            if kind == "case.merged":
                self.cases.add(data["into"])


def areas(province: str | None, ward: str | None) -> list[str]:
    """The sums a contribution from this place goes into: national, province, smallest area
    (a ward, or the part of the province where no ward is known)."""
    if province is None:
        return [""]
    return ["", f"p{province}", f"w{province}{ward or NO_WARD}"]


def area_of(province: str | None, ward: str | None) -> str:
    """The sums a form of this area reads (a ward in another province: none)."""
    if ward:
        return f"w{province or province_of(ward) or '??'}{ward}"
    return f"p{province}" if province else ""


async def form(
    session: AsyncSession, period: domain.Period, province: str | None, ward: str | None
) -> dict[str, int]:
    """Every row of the form for the period and area, zeros included."""
    t = store.tallies
    found = await session.execute(
        select(t.c.row, func.sum(t.c.n))
        .where(t.c.area == area_of(province, ward), t.c.day >= period.start,
               t.c.day <= period.end, t.c["last"] <= period.end)
        .group_by(t.c.row)
    )  # fmt: skip
    rows = dict.fromkeys(domain.KEYS, 0)
    rows.update({row: int(n) for row, n in found if row in rows})
    return rows


async def leaf_forms(
    session: AsyncSession, year: int
) -> dict[tuple[str, str], dict[str, dict[str, int]]]:
    """The exact form of each smallest area (province, ward or "-") and part of the year: what
    the open aggregates are published from (``disclosure.publish_leaves``)."""
    t = store.tallies
    found: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    for part in PARTS:
        period = domain.named_period(period_name(year, part))
        rows = await session.execute(
            select(t.c.area, t.c.row, func.sum(t.c.n))
            .where(t.c.day >= period.start, t.c.day <= period.end, t.c["last"] <= period.end,
                   t.c.area.like("w%"))
            .group_by(t.c.area, t.c.row)
        )  # fmt: skip
        for area, row, n in rows:
            where = (area[1:3], area[3:])
            parts = found.setdefault(where, {p: dict.fromkeys(domain.KEYS, 0) for p in PARTS})
            if row in parts[part]:
                parts[part][row] = int(n)
    return found


async def settle(session: AsyncSession, touched: Touched) -> None:
    """Bring the sums up to date with what ``touched`` owners now contribute."""
    if not touched:
        return
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(LOCK)))
    if touched.events:
        await store.count(session, store.ARCHIVED, touched.events)
    cases = await _with_kept(session, touched.cases)
    for chunk in batched(sorted(cases), CHUNK):
        await _apply(session, await _persons(session, set(chunk)))
    for chunk in batched(sorted(touched.activities), CHUNK):
        await _apply(session, await _activities(session, set(chunk)))
    for chunk in batched(sorted(touched.payments), CHUNK):
        await _apply(session, await _payments(session, set(chunk)))


async def rebuild(session: AsyncSession) -> None:
    """Every sum worked out again from the projections (after ``safereturn stats rebuild``,
    or once when the sums are new)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(LOCK)))
    for table in store.DERIVED:
        await session.execute(delete(table))
    archived = await session.scalar(select(func.count()).select_from(store.archive))
    await store.count(session, store.ARCHIVED, archived or 0)
    await store.count(session, FILLED, 1)
    touched = Touched()
    for table, key, owners in ((store.persons, "case_id", touched.cases),
                               (store.activities, "activity_id", touched.activities),
                               (store.payments, "disbursement_id", touched.payments)):  # fmt: skip
        owners.update(row[0] for row in await session.execute(select(table.c[key])))
    await settle(session, touched)


async def fill(session: AsyncSession) -> bool:
    """Work the sums out from the projections if they never were (a database from before
    them); whether it had to."""
    c = store.counters
    if await session.scalar(select(c.c.value).where(c.c.name == FILLED)):
        return False
    await rebuild(session)
    return True


T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[Sequence[T]]:
    """``itertools.batched`` (Python 3.12)."""
    it = iter(items)
    while chunk := tuple(islice(it, size)):
        yield chunk


# --- what owners contribute now ---------------------------------------------------------------

Contribution = tuple[str | None, str | None, Counter[rules.Key]]  # province, ward, keys


async def _with_kept(session: AsyncSession, cases: set[str]) -> set[str]:
    """The cases, and the case each counts as (the end of its chain of merges)."""
    merges: dict[str, str] = {}
    frontier = set(cases)
    while frontier:
        p = store.persons
        found = await session.execute(
            select(p.c.case_id, p.c.merged_into).where(
                p.c.case_id.in_(frontier), p.c.merged_into.is_not(None)
            )
        )
        step = {row.case_id: row.merged_into for row in found}
        merges |= step
        frontier = set(step.values()) - merges.keys() - cases
    return cases | {domain.kept(case_id, merges) for case_id in cases}


async def _persons(session: AsyncSession, cases: set[str]) -> dict[str, Contribution]:
    """What each case contributes: nothing unless it is received and not merged; then the
    person as decided, with everything done for them and for their merged duplicates."""
    p = store.persons
    fields = [c for c in p.c if c.name != "overdue"]
    rows = await session.execute(
        select(*fields).where(p.c.case_id.in_(cases), p.c.received_on.is_not(None),
                              p.c.merged_into.is_(None))
    )  # fmt: skip
    counted = {row.case_id: store.person_of(row._asdict()) for row in rows}
    members = await _absorbed(session, set(counted))  # case → the counted case it counts for
    decisions: dict[str, list[domain.Decision]] = {}
    for decision in await store.decisions_of(session, members):
        decisions.setdefault(members[decision.case_id], []).append(decision)
    orders: dict[str, list[domain.Protection]] = {}
    for order in await store.protections_of(session, members):
        orders.setdefault(members[order.case_id], []).append(order)
    helped: dict[str, list[domain.Support]] = {}
    for support in await store.supports_of(session, members):
        helped.setdefault(members[support.case_id], []).append(support)
    found: dict[str, Contribution] = {f"{CaseOwner}{c}": (None, None, Counter()) for c in cases}
    for case_id, person in counted.items():
        decided = domain.decided(person, decisions.get(case_id, ()))
        keys = rules.of_person(decided, orders.get(case_id, ()), helped.get(case_id, ()))
        found[f"{CaseOwner}{case_id}"] = (person.province, person.ward, keys)
    return found


async def _absorbed(session: AsyncSession, counted: set[str]) -> dict[str, str]:
    """Each counted case and every case whose chain of merges ends in it → the counted case."""
    members = {case_id: case_id for case_id in counted}
    frontier = set(counted)
    while frontier:
        p = store.persons
        found = await session.execute(
            select(p.c.case_id, p.c.merged_into).where(p.c.merged_into.in_(frontier))
        )
        step = {row.case_id: members[row.merged_into] for row in found
                if row.case_id not in members}  # fmt: skip
        members |= step
        frontier = set(step)
    return members


async def _activities(session: AsyncSession, ids: set[str]) -> dict[str, Contribution]:
    found: dict[str, Contribution] = {f"{ActivityOwner}{i}": (None, None, Counter()) for i in ids}
    for activity_id, activity in await store.activities_of(session, ids):
        keys = rules.of_activity(activity)
        found[f"{ActivityOwner}{activity_id}"] = (activity.province, activity.ward, keys)
    return found


async def _payments(session: AsyncSession, ids: set[str]) -> dict[str, Contribution]:
    found: dict[str, Contribution] = {f"{PaymentOwner}{i}": (None, None, Counter()) for i in ids}
    for payment_id, payment in await store.payments_of(session, ids):
        keys = rules.of_payment(payment)
        found[f"{PaymentOwner}{payment_id}"] = (payment.province, payment.ward, keys)
    return found


# --- moving the sums ----------------------------------------------------------------------------


async def _apply(session: AsyncSession, now: dict[str, Contribution]) -> None:
    """Replace what each owner contributed with what it contributes now, and move the sums."""
    c = store.contributions
    before: dict[str, Contribution] = {owner: (None, None, Counter()) for owner in now}
    stored = await session.execute(select(c).where(c.c.owner.in_(now)))
    for row in stored:
        keys = before[row.owner][2]
        keys[row.row, row.day, row.last] += row.n
        before[row.owner] = (row.province, row.ward, keys)
    changed = [owner for owner in now if now[owner] != before[owner]]
    if not changed:
        return
    sums: Sums = Counter()
    for owner in changed:
        _move(sums, before[owner], -1)
        _move(sums, now[owner], +1)
    await session.execute(delete(c).where(c.c.owner.in_(changed)))
    values = [{"owner": owner, "row": row, "day": day, "last": last, "n": n,
               "province": now[owner][0], "ward": now[owner][1]}
              for owner in changed for (row, day, last), n in now[owner][2].items()]  # fmt: skip
    if values:
        await session.execute(insert(c), values)
    await _add(session, sums)


def _move(sums: Sums, contribution: Contribution, sign: int) -> None:
    province, ward, keys = contribution
    for area in areas(province, ward) if keys else ():
        for (row, day, last), n in keys.items():
            sums[area, row, day, last] += sign * n


async def _add(session: AsyncSession, sums: Sums) -> None:
    t = store.tallies
    moves: list[dict[str, Any]] = [{"area": area, "row": row, "day": day, "last": last, "n": n}
             for (area, row, day, last), n in sums.items() if n]  # fmt: skip
    if not moves:
        return
    statement = upsert(session, t)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[t.c.area, t.c.day, t.c["last"], t.c.row],
            set_={"n": t.c.n + statement.excluded.n},
        ),
        moves,
    )
    emptied = [m for m in moves if m["n"] < 0]  # a sum that went down may have reached zero
    for chunk in batched(emptied, CHUNK):
        keys = [(m["area"], m["day"], m["last"], m["row"]) for m in chunk]
        await session.execute(delete(t).where(
            tuple_(t.c.area, t.c.day, t.c["last"], t.c.row).in_(keys), t.c.n == 0
        ))  # fmt: skip


async def fill_once(platform: Platform) -> None:
    """Housekeeping: the sums worked out once for a database from before them."""
    async with platform.database.reading() as session:
        filled = await session.scalar(
            select(store.counters.c.value).where(store.counters.c.name == FILLED)
        )
    if not filled:
        async with platform.database.transaction() as session:
            if await fill(session):
                log.info("the form's sums were worked out from the projections")
