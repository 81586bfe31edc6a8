"""Disclosure control of the open aggregates. Pure.

An open answer is one cell set of a single table: every row of the form, for every whole
period of a year (Q1…Q4, H1, H2, the year) and every whole area (the nation, each province,
each ward, and each province's persons with no ward recorded, who are never served alone but
are counted as such, in case an attacker knows them). An attacker may ask for all of it and
knows how cells add up: along periods (a half is its quarters, the year its halves), along
areas (a province is its wards, the nation its provinces) and along the form's additive groups
(``domain.GROUPS``), all taken as exact (the worst case: everyone consented and fully coded,
nobody counted in two quarters).

Method: counts of persons above zero and below k are hidden (primary suppression); then every
hidden cell is given a *witness*, a ±1 change of hidden cells only that keeps every one of those
sums, so the published answers fit the true table and the table changed by the witness alike and
the hidden cell is not determined by any linear combination of them. A witness is the product of
one line per dimension: in each, the cell's own node, a sibling of opposite sign (or, lacking a
free sibling, the total above), and below every changed total one part of the same sign down to
the leaves. The product of lines keeps every sum of every dimension (each sum runs along one
dimension, where the other two factors are constants). Every cell of a witness is hidden, and is
thereby covered too. Partners are chosen already hidden first, then non-zero, then smallest, so
the witness usually reuses what is hidden already and a non-zero partner lets the attacker's
nonnegativity leave the cell an interval. The pattern is computed once over the whole year and
hierarchy, so every answer (and the dashboard) is cut from the same one.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from services.stats.domain import (
    COUNTS_OF_PERSONS,
    GROUPS,
    KEYS,
    Activity,
    Facts,
    Payment,
    Person,
    Protection,
    Support,
    form,
    kept,
    named_period,
)

Cell = tuple[str, str, str]  # (row, area, period)
Score = Callable[[str], tuple[bool, bool, int]]


@dataclass(frozen=True, slots=True)
class Group:
    """A total and the parts that add up to it."""

    total: str
    parts: tuple[str, ...]


Dimension = tuple[Group, ...]

PARTS = ("Q1", "Q2", "Q3", "Q4", "H1", "H2", "Y")
PERIODS: Dimension = (Group("Y", ("H1", "H2")), Group("H1", ("Q1", "Q2")),
                      Group("H2", ("Q3", "Q4")))  # fmt: skip
ROWS: Dimension = tuple(Group(total, cells) for total, cells in GROUPS)
NATIONAL = "national"
NO_WARD = "-"


def area_key(province: str | None, ward: str | None) -> str:
    """``national``, ``11`` (a province), ``11/03253`` (a ward), ``11/-`` (no ward recorded)."""
    if province is None:
        return NATIONAL
    return province if ward is None else f"{province}/{ward}"


def period_name(year: int, part: str) -> str:
    return str(year) if part == "Y" else f"{year}-{part}"


@dataclass(frozen=True, slots=True)
class Axis:
    """A dimension indexed: the group each node is a part of, and the groups it is the total of."""

    owner: Mapping[str, Group]
    below: Mapping[str, tuple[Group, ...]]

    @classmethod
    def of(cls, dimension: Dimension) -> "Axis":
        below: dict[str, list[Group]] = {}
        for group in dimension:
            below.setdefault(group.total, []).append(group)
        owner = {part: group for group in dimension for part in group.parts}
        return cls(owner, {total: tuple(groups) for total, groups in below.items()})


def line(node: str, axis: Axis, score: Score) -> dict[str, int]:
    """A +1 change at ``node`` and the fewest other changes along one dimension that keep all of
    its sums: a sibling of opposite sign (or the total above, if no sibling is free), and below
    every changed total one part of the same sign, down to the leaves."""
    owner, below = axis.owner, axis.below
    change = {node: 1}
    pending = [node]
    while pending:
        current = pending.pop()
        groups = list(below.get(current, ()))
        up = owner.get(current)
        if up is not None and up.total not in change:
            groups.append(up)
        for group in groups:
            residual = change.get(group.total, 0) - sum(change.get(p, 0) for p in group.parts)
            if not residual:
                continue
            free = [p for p in group.parts if p not in change]
            if free:
                chosen = min(free, key=score)
                change[chosen] = residual
            else:  # every part already changed: the total moves with them
                chosen = group.total
                change[chosen] = change.get(chosen, 0) - residual
            pending.append(chosen)
    return change


def witness(
    cell: Cell,
    axes: tuple[Axis, Axis, Axis],
    score: Callable[[Cell], tuple[bool, bool, int]],
) -> dict[Cell, int]:
    """A change of ``cell`` that keeps every sum of every dimension (a product of lines)."""

    def along(axis: int) -> Score:
        def rank(node: str) -> tuple[bool, bool, int]:
            moved = list(cell)
            moved[axis] = node
            return score((moved[0], moved[1], moved[2]))

        return rank

    rows, areas, periods = (line(cell[axis], axes[axis], along(axis)) for axis in range(3))
    return {(r, a, p): x * y * z for r, x in rows.items() for a, y in areas.items()
            for p, z in periods.items()}  # fmt: skip


def protect(
    values: Mapping[Cell, int],
    sensitive: Collection[str],
    k: int,
    dimensions: tuple[Dimension, Dimension, Dimension],
) -> frozenset[Cell]:
    """The cells to hide: the small counts of the ``sensitive`` rows, and a witness for each."""
    hidden = {cell for cell, value in values.items() if cell[0] in sensitive and 0 < value < k}
    covered: set[Cell] = set()
    axes = (Axis.of(dimensions[0]), Axis.of(dimensions[1]), Axis.of(dimensions[2]))

    def score(cell: Cell) -> tuple[bool, bool, int]:
        value = values.get(cell, 0)
        return cell not in hidden, value == 0, value

    for cell in sorted(hidden):
        if cell in covered:
            continue
        support = witness(cell, axes, score)
        hidden.update(support)
        covered.update(support)
    return frozenset(hidden)


def area_dimension(provinces: Iterable[str], wards: Iterable[tuple[str, str]]) -> Dimension:
    """Nation → provinces → wards (each province with its "no ward" part)."""
    inside: dict[str, set[str]] = {province: {NO_WARD} for province in provinces}
    for province, ward in wards:
        inside.setdefault(province, {NO_WARD}).add(ward)
    return (Group(NATIONAL, tuple(sorted(inside))),
            *(Group(p, tuple(area_key(p, w) for w in sorted(wards_)))
              for p, wards_ in sorted(inside.items())))  # fmt: skip


# --- a year's open aggregates -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Published:
    """A year's open aggregates for every area and period, with the pattern's cells as None."""

    year: int
    rows: Mapping[tuple[str, str], Mapping[str, int | None]]  # (area, period part) → rows
    hidden: frozenset[Cell] = field(default_factory=frozenset)

    def answer(self, area: str, part: str) -> dict[str, int | None]:
        """The rows of one area and period (an area with no facts: zeros)."""
        return dict(self.rows.get((area, part)) or dict.fromkeys(KEYS, 0))


def leaves(facts: Facts) -> dict[tuple[str, str], Facts]:
    """The facts of each smallest area (province, ward or "-"): persons where they were
    received, what was done for a case where the case it counts as was, activities and payments
    where they were reported."""
    merges = dict(facts.merges)
    counted = {p.case_id: p for p in facts.persons if not p.merged}
    persons: dict[tuple[str, str], list[Person]] = {}
    protections: dict[tuple[str, str], list[Protection]] = {}
    supports: dict[tuple[str, str], list[Support]] = {}
    activities: dict[tuple[str, str], list[Activity]] = {}
    payments: dict[tuple[str, str], list[Payment]] = {}
    for person in facts.persons:
        persons.setdefault((person.province, person.ward or NO_WARD), []).append(person)
    for protection in facts.protections:
        if (owner := counted.get(kept(protection.case_id, merges))) is not None:
            protections.setdefault((owner.province, owner.ward or NO_WARD), []).append(protection)
    for support in facts.supports:
        if (owner := counted.get(kept(support.case_id, merges))) is not None:
            supports.setdefault((owner.province, owner.ward or NO_WARD), []).append(support)
    for activity in facts.activities:
        activities.setdefault((activity.province or "", activity.ward or NO_WARD), []).append(
            activity
        )
    for payment in facts.payments:
        payments.setdefault((payment.province or "", payment.ward or NO_WARD), []).append(payment)
    every = {*persons, *protections, *supports, *activities, *payments}
    return {where: Facts(persons=tuple(persons.get(where, ())),
                         activities=tuple(activities.get(where, ())),
                         protections=tuple(protections.get(where, ())),
                         supports=tuple(supports.get(where, ())),
                         payments=tuple(payments.get(where, ())), merges=facts.merges)
            for where in every}  # fmt: skip


def _sum(forms: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total = dict.fromkeys(KEYS, 0)
    for rows in forms:
        for key in KEYS:
            total[key] += rows[key]
    return total


Leaves = Mapping[tuple[str, str], Mapping[str, Mapping[str, int]]]
"""(province, ward or "-") → period part → the form's rows: the smallest areas' exact forms."""


def leaf_forms(year: int, facts: Facts) -> dict[tuple[str, str], dict[str, dict[str, int]]]:
    """The exact form of each smallest area and part of the year, from the national facts."""
    return {where: {part: form(named_period(period_name(year, part)), found) for part in PARTS}
            for where, found in leaves(facts).items()}  # fmt: skip


def publish(year: int, facts: Facts, k: int, provinces: Iterable[str] = ()) -> Published:
    """The year's open aggregates from the national facts, suppressed by one pattern."""
    return publish_leaves(year, leaf_forms(year, facts), k, provinces)


def publish_leaves(year: int, by_leaf: Leaves, k: int, provinces: Iterable[str] = ()) -> Published:
    """The year's open aggregates from the smallest areas' exact forms (stats keeps them,
    ``tallies.leaf_forms``), suppressed by one pattern."""
    dimension = area_dimension(
        {*provinces, *(p for p, _ in by_leaf)}, [w for w in by_leaf if w[1] != NO_WARD]
    )
    exact: dict[tuple[str, str], dict[str, int]] = {}
    for (province, ward), parts in by_leaf.items():
        for part in PARTS:
            exact[(area_key(province, ward), part)] = dict(parts[part])
    for group in dimension[1:]:  # provinces from their wards, then the nation
        for part in PARTS:
            exact[(group.total, part)] = _sum(
                exact[(w, part)] for w in group.parts if (w, part) in exact
            )
    for part in PARTS:
        exact[(NATIONAL, part)] = _sum(exact[(p, part)] for p in dimension[0].parts)
    values = {(row, area, part): rows[row] for (area, part), rows in exact.items()
              for row in COUNTS_OF_PERSONS}  # fmt: skip
    hidden = protect(values, COUNTS_OF_PERSONS, k, (ROWS, dimension, PERIODS))
    shown: dict[tuple[str, str], dict[str, int | None]] = {
        key: dict(rows) for key, rows in exact.items()
    }
    for row, area, part in hidden:
        shown.setdefault((area, part), dict(dict.fromkeys(KEYS, 0)))[row] = None
    return Published(year, shown, hidden)


def publish_counts(
    counts: Mapping[str, Mapping[str, int]],
    names: Sequence[str],
    k: int,
    provinces: Iterable[str] = (),
) -> dict[str, dict[str, int | None]]:
    """Counts of persons by province (and their national sums), suppressed the same way: the
    open and overdue verifications of the dashboard."""
    dimension = area_dimension({*provinces, *counts}, ())[:1]
    every = dimension[0].parts
    exact = {p: {n: counts.get(p, {}).get(n, 0) for n in names} for p in every}
    exact[NATIONAL] = {n: sum(exact[p][n] for p in every) for n in names}
    values = {(n, area, "now"): rows[n] for area, rows in exact.items() for n in names}
    hidden = protect(values, names, k, ((), dimension, ()))
    shown: dict[str, dict[str, int | None]] = {area: dict(rows) for area, rows in exact.items()}
    for name, area, _ in hidden:
        shown[area][name] = None
    return shown
