"""The form of any period is the sum, over the period's days, of what each counted person,
activity and payment contributes (what stats keeps by area, day and row): a property over many
persons and any periods, against the rule (``domain.form``). The database's sums are checked
against the same rule in every projection test (``deliveries.forms``)."""

from collections import Counter
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from services.stats import contributions
from services.stats.domain import Facts, Period, form, kept
from tests.services.stats.test_form import people, person, support

any_day = st.dates(date(2025, 12, 1), date(2027, 1, 31))


@st.composite
def periods(draw: st.DrawFn) -> Period:
    first, last = sorted((draw(any_day), draw(any_day)))
    return Period(first, last)


def contributed(facts: Facts) -> Counter[contributions.Key]:
    merges = dict(facts.merges)
    counted = {p.case_id: p for p in facts.persons if not p.merged}
    found: Counter[contributions.Key] = Counter()
    for case_id, person_ in counted.items():
        orders = [o for o in facts.protections if kept(o.case_id, merges) == case_id]
        helped = [s for s in facts.supports if kept(s.case_id, merges) == case_id]
        found.update(contributions.of_person(person_, orders, helped))
    for activity in facts.activities:
        found.update(contributions.of_activity(activity))
    for payment in facts.payments:
        found.update(contributions.of_payment(payment))
    return found


@settings(max_examples=300, deadline=None)
@given(facts=people(), chosen=st.lists(periods(), min_size=1, max_size=6))
def test_the_sums_by_day_give_the_form_of_any_period(facts: Facts, chosen: list[Period]) -> None:
    summed = contributed(facts)
    for period in chosen:
        assert contributions.form(summed, period.start, period.end) == form(period, facts)


def test_a_person_helped_on_three_days_is_one_person_in_any_period_holding_one_of_them() -> None:
    days = (date(2026, 2, 1), date(2026, 3, 1), date(2026, 5, 1))
    helped = [support("clothing", "case-1", on=day) for day in days]
    keys = contributions.of_person(person("case-1"), [], helped)
    assert sorted((day, last, n) for (row, day, last), n in keys.items() if row == "II.4.2") == [
        (days[0], days[0], 1), (days[0], days[1], -1), (days[1], days[1], 1),
        (days[1], days[2], -1), (days[2], days[2], 1),
    ]  # fmt: skip
    for start, end, expected in ((days[0], days[2], 1), (days[1], days[1], 1),
                                 (date(2026, 2, 2), date(2026, 2, 28), 0),
                                 (date(2026, 2, 15), date(2026, 12, 31), 1)):  # fmt: skip
        assert contributions.form(keys, start, end)["II.4.2"] == expected
