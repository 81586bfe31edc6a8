"""The form's sums by area, day and row, kept as events arrive, so a form costs the same
whatever the history behind it (``contributions`` says what is summed and why).

A transaction's new events touch cases (for a merge, also the case merged into), activities
and payments. ``project`` works out what every touched one contributes — a case through the
case it counts as, with its merged duplicates — from the projections before the events are
written and again after, and moves the sums by the difference. What anything contributes
depends only on the projections, never on the order events came in, so neither do the sums.

Two stats replicas on PostgreSQL project one at a time (a transaction-level advisory lock taken
before the first read): the later one reads what the earlier one committed. On SQLite a writing
transaction holds the database's write lock from its start."""

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.stats import contributions as rules
from services.stats import domain, projections, store
from services.stats.disclosure import NO_WARD, PARTS, period_name
from shared.areas import province_of
from shared.db import upsert
from shared.runtime import Platform

log = logging.getLogger(__name__)

LOCK = 0x5354_4154  # "STAT": projecting is one replica at a time
CHUNK = 2000  # cases read at once (bound parameters per statement stay well under limits)
FILLED = "tallies"  # a counter: 1 once the sums were worked out from every projection
Sums = Counter[tuple[str, str, date, date]]  # (area, row, day, last) → n
T = TypeVar("T")


@dataclass
class Touched:
    """What a transaction's new events touch, and the merges they make."""

    cases: set[str] = field(default_factory=set)
    activities: set[str] = field(default_factory=set)
    payments: set[str] = field(default_factory=set)
    merges: dict[str, str] = field(default_factory=dict)

    @classmethod
    def by(cls, envelopes: Iterable[Mapping[str, Any]]) -> "Touched":
        touched = cls()
        for envelope in envelopes:
            kind, data = envelope["type"], envelope["data"]
            if kind == "activity.reported":
                touched.activities.add(data["activity_id"])
            elif kind == "support.disbursed":
                touched.payments.add(data["disbursement_id"])
            elif kind != "verification.overdue" and "case_id" in data:
                touched.cases.add(data["case_id"])
                if kind == "case.merged":
                    touched.cases.add(data["into"])
                    touched.merges[data["case_id"]] = data["into"]
        return touched


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


# --- reading ------------------------------------------------------------------------------------


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
            parts = found.setdefault((area[1:3], area[3:]),
                                     {p: dict.fromkeys(domain.KEYS, 0) for p in PARTS})  # fmt: skip
            if row in parts[part]:
                parts[part][row] = int(n)
    return found


# --- writing ------------------------------------------------------------------------------------


async def project(session: AsyncSession, envelopes: Sequence[dict[str, Any]]) -> None:
    """Write newly archived events to the projections and move the sums by what they change."""
    if not envelopes:
        return
    await _one_at_a_time(session)
    await store.count(session, store.ARCHIVED, len(envelopes))
    touched = Touched.by(envelopes)
    before_merges = await _merges(session, touched.cases)
    after_merges = before_merges | touched.merges
    cases = touched.cases | {domain.kept(c, before_merges) for c in touched.cases}
    cases |= {domain.kept(c, after_merges) for c in touched.cases}
    before = await _contributed(session, cases, touched)
    await projections.project(session, envelopes)
    after = await _contributed(session, cases, touched)
    after.subtract(before)
    await _add(session, after)


async def rebuild(session: AsyncSession) -> None:
    """Every sum worked out again from the projections (after ``safereturn stats rebuild``,
    or once when the sums are new)."""
    await _one_at_a_time(session)
    for table in store.DERIVED:
        await session.execute(delete(table))
    archived = await session.scalar(select(func.count()).select_from(store.archive))
    await store.count(session, store.ARCHIVED, archived or 0)
    await store.count(session, FILLED, 1)
    touched = Touched()
    for table, key, found in ((store.persons, "case_id", touched.cases),
                              (store.activities, "activity_id", touched.activities),
                              (store.payments, "disbursement_id", touched.payments)):  # fmt: skip
        found.update(row[0] for row in await session.execute(select(table.c[key])))
    sums = await _contributed(session, touched.cases, touched)
    moves = [{"area": area, "row": row, "day": day, "last": last, "n": n}
             for (area, row, day, last), n in sums.items() if n]  # fmt: skip
    for chunk in batched(moves, 10 * CHUNK):
        await session.execute(insert(store.tallies), list(chunk))


async def fill(session: AsyncSession) -> bool:
    """Work the sums out from the projections if they never were (a database from before
    them); whether it had to."""
    c = store.counters
    if await session.scalar(select(c.c.value).where(c.c.name == FILLED)):
        return False
    await rebuild(session)
    return True


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


async def _one_at_a_time(session: AsyncSession) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(LOCK)))


def batched(items: Iterable[T], size: int) -> Iterator[Sequence[T]]:
    """``itertools.batched`` (Python 3.12)."""
    it = iter(items)
    while chunk := tuple(islice(it, size)):
        yield chunk


# --- what is contributed ------------------------------------------------------------------------


async def _merges(session: AsyncSession, cases: Iterable[str]) -> dict[str, str]:
    """The chains of merges the cases start (case → the case it was merged into)."""
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
        frontier = set(step.values()) - merges.keys()
    return merges


async def _contributed(session: AsyncSession, cases: set[str], touched: Touched) -> Sums:
    """What the cases (each counted with its merged duplicates), activities and payments
    contribute now, by area, row and days."""
    sums: Sums = Counter()
    for chunk in batched(sorted(cases), CHUNK):
        await _persons(session, set(chunk), sums)
    for chunk in batched(sorted(touched.activities), CHUNK):
        for _, activity in await store.activities_of(session, chunk):
            _add_at(sums, activity.province, activity.ward, rules.of_activity(activity))
    for chunk in batched(sorted(touched.payments), CHUNK):
        for _, payment in await store.payments_of(session, chunk):
            _add_at(sums, payment.province, payment.ward, rules.of_payment(payment))
    return sums


async def _persons(session: AsyncSession, cases: set[str], sums: Sums) -> None:
    """Those of the cases that are counted (received, not merged): the person as decided, with
    everything done for them and for their merged duplicates."""
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
    for case_id, person in counted.items():
        decided = domain.decided(person, decisions.get(case_id, ()))
        keys = rules.of_person(decided, orders.get(case_id, ()), helped.get(case_id, ()))
        _add_at(sums, person.province, person.ward, keys)


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


def _add_at(sums: Sums, province: str | None, ward: str | None, keys: Counter[rules.Key]) -> None:
    for area in areas(province, ward):
        for (row, day, last), n in keys.items():
            sums[area, row, day, last] += n


async def _add(session: AsyncSession, sums: Sums) -> None:
    """Move the sums; a sum that reaches zero is removed."""
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
    emptied = [{f"k_{k}": v for k, v in m.items() if k != "n"} for m in moves if m["n"] < 0]
    if emptied:  # a sum that went down may have reached zero: each found by its key (a list
        # of keys as row values, ``IN (VALUES …)``, has SQLite read every sum)
        key = [t.c[name] == bindparam(f"k_{name}") for name in ("area", "day", "last", "row")]
        await session.execute(delete(t).where(*key, t.c.n == 0), emptied)
