"""Small-cell suppression of the public aggregates: an attacker who sees the suppressed form,
and knows how its rows add up, must not be able to work out any hidden count."""

from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.stats.domain import COUNTS_OF_PERSONS, DESTINATIONS, FORMS, GROUPS, KEYS, suppress

K = 5
ABROAD = tuple(f"I.2.d.abroad.{country}" for country in (*DESTINATIONS, "other"))


def form(**values: int) -> dict[str, int]:
    """A form with zeros everywhere but the rows given (dots in keys written as ``__``)."""
    rows = dict.fromkeys(KEYS, 0)
    for name, value in values.items():
        key = name.replace("__", ".")
        assert key in rows, key
        rows[key] = value
    return rows


def hidden(shown: dict[str, int | None]) -> set[str]:
    return {key for key, value in shown.items() if value is None}


def rank(matrix: list[list[Fraction]]) -> int:
    rows, found = [list(row) for row in matrix], 0
    for column in range(len(rows[0]) if rows else 0):
        pivot = next((r for r in range(found, len(rows)) if rows[r][column]), None)
        if pivot is None:
            continue
        rows[found], rows[pivot] = rows[pivot], rows[found]
        for r in range(len(rows)):
            if r != found and rows[r][column]:
                factor = rows[r][column] / rows[found][column]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[found], strict=True)]
        found += 1
    return found


def worked_out(shown: dict[str, int | None]) -> set[str]:
    """The hidden rows the groups' sums (total = sum of cells) determine exactly: a hidden row
    is determined when its unit vector lies in the row space of the equations over the hidden
    rows (the shown rows being constants)."""
    unknowns = sorted(hidden(shown) & {key for total, cells in GROUPS for key in (total, *cells)})
    equations = [[Fraction((key == total) - (key in cells)) for key in unknowns]
                 for total, cells in GROUPS]  # fmt: skip
    base = rank(equations)
    found = set()
    for i, key in enumerate(unknowns):
        unit = [Fraction(int(j == i)) for j in range(len(unknowns))]
        if rank([*equations, unit]) == base:
            found.add(key)
    return found


# --- strategies ---------------------------------------------------------------------------------

counts = st.integers(0, 12)
any_form = st.fixed_dictionaries({key: st.integers(0, 30) | counts for key in KEYS})


@st.composite
def additive_forms(draw: st.DrawFn) -> dict[str, int]:
    """Forms whose groups add up exactly (everyone consented and is fully coded): the worst
    case, where every group's sum is an equation the attacker can use."""
    rows = draw(any_form)
    for key in ABROAD:
        rows[key] = draw(counts)
    rows["I.2.d.abroad"] = sum(rows[key] for key in ABROAD)
    rows["I.2.d.domestic"] = draw(counts)
    total = rows["I.2"] = rows["I.2.d.domestic"] + rows["I.2.d.abroad"]
    rows["I.2.a.male"] = draw(st.integers(0, total))
    rows["I.2.a.female"] = total - rows["I.2.a.male"]
    rows["I.2.b.kinh"] = draw(st.integers(0, total))
    rows["I.2.b.other"] = total - rows["I.2.b.kinh"]
    left = total
    for reception_form in FORMS[:-1]:
        rows[f"I.2.e.{reception_form}"] = draw(st.integers(0, left))
        left -= rows[f"I.2.e.{reception_form}"]
    rows[f"I.2.e.{FORMS[-1]}"] = left
    for total_key, cells in GROUPS:
        assert rows[total_key] == sum(rows[cell] for cell in cells)
    return rows


thresholds = st.integers(1, 11)


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(rows=any_form, k=thresholds)
def test_every_shown_count_of_persons_is_zero_or_at_least_k_and_equals_the_original(
    rows: dict[str, int], k: int
) -> None:
    shown = suppress(rows, k)
    assert set(shown) == set(rows)
    for key, value in shown.items():
        assert value is None or value == rows[key]
        if key in COUNTS_OF_PERSONS and value is not None:
            assert value == 0 or value >= k
    assert hidden(shown) <= set(COUNTS_OF_PERSONS)


@settings(max_examples=300, deadline=None)
@given(rows=any_form, k=thresholds)
def test_a_group_whose_total_is_shown_hides_none_or_at_least_two_of_its_cells(
    rows: dict[str, int], k: int
) -> None:
    shown = suppress(rows, k)
    for total, cells in GROUPS:
        if shown[total] is not None:
            assert len(hidden(shown) & set(cells)) != 1, (total, cells)


@settings(max_examples=300, deadline=None)
@given(rows=additive_forms(), k=thresholds)
@example(rows=form(I__2=22, I__2__d__domestic=2, I__2__d__abroad=20, I__2__d__abroad__CN=20,
                   I__2__a__female=22, I__2__b__kinh=22, I__2__e__rescued=22), k=K)  # fmt: skip
def test_no_hidden_cell_of_an_additive_form_can_be_worked_out_from_what_is_shown(
    rows: dict[str, int], k: int
) -> None:
    assert worked_out(suppress(rows, k)) == set()


# --- examples -----------------------------------------------------------------------------------


def test_one_woman_among_seven_victims_hides_both_sexes() -> None:
    shown = suppress(form(I__2=7, I__2__a__male=6, I__2__a__female=1), K)
    assert shown["I.2.a.female"] is None
    assert shown["I.2.a.male"] is None
    assert shown["I.2"] == 7


def test_the_smallest_other_cell_of_the_group_is_hidden_with_a_small_one() -> None:
    rows = form(I__2=40, I__2__e__self_returned=2, I__2__e__rescued=30,
                I__2__e__bilateral_handover=8)  # fmt: skip
    shown = suppress(rows, K)
    assert hidden(shown) == {"I.2.e.self_returned", "I.2.e.bilateral_handover"}


def test_a_lone_small_cell_with_only_zeros_beside_it_hides_the_total() -> None:
    """Four of nine victims refused consent: five shown in no reception form."""
    rows = form(I__1=9, I__2=9, I__2__e__rescued=4)
    shown = suppress(rows, K)
    assert shown["I.2.e.rescued"] is None
    assert shown["I.2"] is None


def test_counts_that_are_not_persons_are_never_hidden() -> None:
    rows = form(II__1=1, II__2__sessions=2, II__2__participants=3, II__2__panels=1,
                II__3__trainings=1, II__4__5__vnd=4, II__4__5__vnd__donor=4)  # fmt: skip
    assert suppress(rows, K) == rows


@pytest.mark.parametrize("k", [1, 0])
def test_a_threshold_of_one_or_less_hides_nothing(k: int) -> None:
    rows = form(I__1=1, I__2=1, I__2__a__female=1, II__4__1=1)
    assert suppress(rows, k) == rows


def test_a_hidden_abroad_total_cannot_be_worked_out_from_the_destinations_shown() -> None:
    """Two of 22 victims were trafficked at home: "domestic" is hidden, "abroad" with it, but
    abroad is the sum of the destinations, which are all shown, and domestic = 22 - abroad."""
    rows = form(I__2=22, I__2__d__domestic=2, I__2__d__abroad=20, I__2__d__abroad__CN=20)
    shown = suppress(rows, K)
    assert shown["I.2.d.domestic"] is None
    assert shown["I.2.d.abroad"] is None
    destinations_shown = all(shown[key] is not None for key in ABROAD)
    assert not destinations_shown, "abroad = sum of destinations, domestic = I.2 - abroad"
