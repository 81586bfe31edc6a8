"""The differencing attack on the open aggregates: an attacker who asks every allowed question of
a year (every whole period, every area at every level) and solves the published sums exactly
must not work out any hidden cell, whatever the data; small counts are hidden and every count
shown is the true one."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.stats.disclosure import PARTS, publish, publish_counts
from services.stats.domain import (
    COUNTS_OF_PERSONS,
    DESTINATIONS,
    GROUPS,
    KEYS,
    Facts,
    Person,
    form,
    suppress,
)
from services.stats.domain import named_period as period
from tests.services.stats.attack import QUARTERS_HALVES_YEAR, Cell, determined, equations

YEAR = 2026
# Two provinces, three wards, and persons with no ward recorded (never asked for alone).
LEAVES = (("11", "03253"), ("11", "03325"), ("11", None), ("12", "03400"), ("12", None))
AREAS = (("national", ("11", "12")), ("11", ("11/03253", "11/03325", "11/-")),
         ("12", ("12/03400", "12/-")))  # fmt: skip
FIRST_DAYS = {"Q1": date(YEAR, 1, 10), "Q2": date(YEAR, 4, 10), "Q3": date(YEAR, 7, 10),
              "Q4": date(YEAR, 10, 10)}  # fmt: skip


def key(province: str | None, ward: str | None) -> str:
    return "national" if province is None else province if ward is None else f"{province}/{ward}"


@dataclass(frozen=True)
class Drawn:
    """A person as drawn: where, when received and identified (None: not a victim), who."""

    leaf: tuple[str, str | None]
    received: str
    identified: str | None
    sex: str
    age: int
    kinh: bool
    destination: str | None  # None: trafficked at home; "XX": abroad, elsewhere than the list
    reception: str


persons = st.builds(
    Drawn, st.sampled_from(LEAVES), st.sampled_from(list(FIRST_DAYS)),
    st.sampled_from([None, *FIRST_DAYS]), st.sampled_from(["male", "female"]),
    st.integers(10, 30), st.booleans(), st.sampled_from([None, *DESTINATIONS, "XX"]),
    st.sampled_from(["self_returned", "rescued", "bilateral_handover"]),
)  # fmt: skip


def facts_of(drawn: Sequence[Drawn]) -> Facts:
    """Everyone consented and is fully coded: every additive group of the form is exact."""
    made = []
    for n, one in enumerate(drawn):
        received_on = FIRST_DAYS[one.received]
        identified_on = (
            None if one.identified is None else max(received_on, FIRST_DAYS[one.identified])
        )
        made.append(Person(
            case_id=f"case-{n}", received_on=received_on, province=one.leaf[0], ward=one.leaf[1],
            sex=one.sex, age=one.age, ethnicity="01" if one.kinh else "17", nationality="VN",
            scope="domestic" if one.destination is None else "abroad",
            destination=one.destination, reception_form=one.reception, consent_statistics=True,
            identified_on=identified_on,
        ))  # fmt: skip
    return Facts(persons=tuple(made))


def truth(facts: Facts) -> dict[Cell, int]:
    """Every cell counted directly from the facts of its area, period by period."""
    found: dict[Cell, int] = {}
    areas = {key(None, None): lambda p: True}
    for province in ("11", "12"):
        areas[province] = lambda p, province=province: p.province == province
    for province, ward in LEAVES:
        areas[key(province, ward or "-")] = lambda p, province=province, ward=ward: (
            (p.province, p.ward) == (province, ward)
        )
    for area, inside in areas.items():
        subset = Facts(persons=tuple(p for p in facts.persons if inside(p)))
        for part in PARTS:
            name = str(YEAR) if part == "Y" else f"{YEAR}-{part}"
            rows = form(period(name), subset)
            found.update({(row, area, part): rows[row] for row in COUNTS_OF_PERSONS})
    return found


def attack(shown: dict[Cell, int | None]) -> set[Cell]:
    system = equations(shown, GROUPS, AREAS, QUARTERS_HALVES_YEAR)
    return determined(system)


def seen(facts: Facts, k: int) -> dict[Cell, int | None]:
    """Every answer the attacker can get (and, to be safe, the "no ward" parts too)."""
    published = publish(YEAR, facts, k, provinces=("11", "12"))
    areas = {area for area, _ in AREAS} | {part for _, parts in AREAS for part in parts}
    return {(row, area, part): published.answer(area, part)[row] for area in areas
            for part in PARTS for row in COUNTS_OF_PERSONS}  # fmt: skip


ONE_VICTIM_IN_Q3 = [Drawn(("11", "03253"), "Q3", "Q3", "female", 16, False, "CN", "rescued")]
TWENTY_AND_ONE = [Drawn(("11", "03253"), "Q1", "Q1", "female", 20, True, "CN", "rescued")] * 20
TWENTY_AND_ONE += [Drawn(("11", "03253"), "Q3", "Q3", "male", 14, False, None, "self_returned")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=st.lists(persons, max_size=40), k=st.integers(2, 6))
@example(drawn=ONE_VICTIM_IN_Q3, k=5)
@example(drawn=TWENTY_AND_ONE, k=5)
def test_no_hidden_cell_can_be_worked_out_from_every_answer_of_a_year(
    drawn: list[Drawn], k: int
) -> None:
    facts = facts_of(drawn)
    exact = truth(facts)
    shown = seen(facts, k)
    assert set(exact) <= set(shown)
    for cell, value in shown.items():
        assert value is None or value == exact.get(cell, 0), cell
        assert value is None or value == 0 or value >= k, cell
    assert {cell for cell, value in exact.items() if 0 < value < k} <= {
        cell for cell, value in shown.items() if value is None
    }
    assert attack(shown) == set()


def test_forms_suppressed_one_by_one_give_hidden_cells_away() -> None:
    """The attacker has teeth: suppressing each form on its own (as the open endpoint and the
    dashboard did) lets the year minus the other quarters recover the hidden quarter."""
    facts = facts_of(TWENTY_AND_ONE)
    exact = truth(facts)
    areas = {area for _, area, _ in exact}
    shown: dict[Cell, int | None] = {}
    for area in areas:
        for part in PARTS:
            full = dict.fromkeys(KEYS, 0) | {r: exact[(r, area, part)] for r in COUNTS_OF_PERSONS}
            shown.update({(r, area, part): v for r, v in suppress(full, 5).items()
                          if r in COUNTS_OF_PERSONS})  # fmt: skip
    recovered = attack(shown)
    assert ("I.2.a.male", "11/03253", "Q3") in recovered
    assert ("I.1", "11", "Q3") in recovered


@settings(max_examples=60, deadline=None)
@given(open_=st.dictionaries(st.sampled_from(["11", "12", "14"]), st.integers(0, 12)),
       late=st.integers(0, 12), k=st.integers(2, 6))  # fmt: skip
def test_open_and_overdue_verifications_cannot_be_worked_out_across_provinces(
    open_: dict[str, int], late: int, k: int
) -> None:
    counts = {p: {"open": n, "overdue": min(n, late)} for p, n in open_.items()}
    shown = publish_counts(counts, ("open", "overdue"), k, provinces=("11", "12", "14"))
    cells = {(name, area, "now"): value for area, rows in shown.items()
             for name, value in rows.items()}  # fmt: skip
    for (name, area, _), value in cells.items():
        exact = (
            counts.get(area, {}).get(name, 0)
            if area != "national"
            else sum(c[name] for c in counts.values())
        )
        assert value is None or value == exact
        assert value is None or value == 0 or value >= k
    sums = (("national", ("11", "12", "14")),)
    assert determined(equations(cells, (), sums, ())) == set()
