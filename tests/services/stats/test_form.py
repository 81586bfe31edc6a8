"""The official form from projected facts: periods by name, and the counting rules of
``services/stats/domain.py`` (business dates, merged duplicates, consent, ages, destinations,
activities, support and money). Plain calls on ``Facts``."""

import calendar
import itertools
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.stats.domain import (
    DESTINATIONS,
    KEYS,
    KINDS,
    SHELTER_NEEDED,
    SUPPORT_ROWS,
    Activity,
    Facts,
    Payment,
    Period,
    Person,
    Protection,
    Support,
    form,
    named_period,
)

YEAR = named_period("2026")
Q1, Q2 = named_period("2026-Q1"), named_period("2026-Q2")


def person(case_id: str = "case-1", **changes: Any) -> Person:
    """A Kinh Vietnamese woman of 20 trafficked to China and rescued, received on 10 January
    2026 in province 11 and identified on 1 February; she consented to statistics."""
    values = {"received_on": date(2026, 1, 10), "province": "11", "ward": None, "sex": "female",
              "age": 20, "ethnicity": "01", "nationality": "VN", "scope": "abroad",
              "destination": "CN", "reception_form": "rescued", "consent_statistics": True,
              "identified_on": date(2026, 2, 1)}  # fmt: skip
    return Person(case_id=case_id, **(values | changes))


def rows_of(*persons: Person, period: Period = YEAR, **facts: Any) -> dict[str, int]:
    return form(period, Facts(persons=persons, **facts))


def nonzero(rows: dict[str, int]) -> dict[str, int]:
    return {key: value for key, value in rows.items() if value}


def support(kind: str, case_id: str = "case-1", on: date = date(2026, 2, 5)) -> Support:
    return Support(case_id, kind, on)


def payment(kind: str, amount: int, source: str = "state_budget", on: date = date(2026, 3, 1)):
    return Payment(kind, on, amount, source)


PERSON_ROWS = {"I.1": 1, "I.2": 1, "I.2.a.female": 1, "I.2.b.kinh": 1, "I.2.d.abroad": 1,
               "I.2.d.abroad.CN": 1, "I.2.e.rescued": 1}  # fmt: skip


# --- periods by name ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-Q2", date(2026, 4, 1), date(2026, 6, 30)),
        ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30)),
        ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-H1", date(2026, 1, 1), date(2026, 6, 30)),
        ("2026-H2", date(2026, 7, 1), date(2026, 12, 31)),
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("2024", date(2024, 1, 1), date(2024, 12, 31)),
        ("2000-Q1", date(2000, 1, 1), date(2000, 3, 31)),
    ],
)
def test_a_named_period_runs_from_its_first_to_its_last_day(
    name: str, first: date, last: date
) -> None:
    assert named_period(name) == Period(first, last)
    assert named_period(name).name == f"{first.isoformat()}/{last.isoformat()}"


@settings(max_examples=200, deadline=None)
@given(year=st.integers(1, 9999))
def test_the_quarters_and_halves_of_a_year_follow_each_other_and_cover_it(year: int) -> None:
    quarters = [named_period(f"{year:04d}-Q{n}") for n in (1, 2, 3, 4)]
    halves = [named_period(f"{year:04d}-H{n}") for n in (1, 2)]
    whole = named_period(f"{year:04d}")
    for parts in (quarters, halves):
        assert parts[0].start == whole.start == date(year, 1, 1)
        assert parts[-1].end == whole.end == date(year, 12, 31)
        for earlier, later in itertools.pairwise(parts):
            assert later.start == earlier.end + timedelta(days=1)
    assert (halves[0].start, halves[0].end) == (quarters[0].start, quarters[1].end)
    assert (halves[1].start, halves[1].end) == (quarters[2].start, quarters[3].end)
    days = sum((q.end - q.start).days + 1 for q in quarters)
    assert days == (whole.end - whole.start).days + 1 == 365 + calendar.isleap(year)


@pytest.mark.parametrize(("year", "days"), [(2024, 91), (2025, 90), (2000, 91), (1900, 90)])
def test_the_first_quarter_of_a_leap_year_has_the_29th_of_february(year: int, days: int) -> None:
    quarter = named_period(f"{year}-Q1")
    assert (quarter.end - quarter.start).days + 1 == days
    assert (date(year, 2, 28) + timedelta(days=1) in quarter) is True


@pytest.mark.parametrize(
    "text",
    ["", "26", "202", "20266", "2026-", "2026-Q0", "2026-Q5", "2026-H0", "2026-H3", "2026-q1",
     "2026-h2", "2026Q1", "2026-Q1-x", " 2026", "2026-01", "2026-M1", "abcd", "Q1-2026", "0000"],
)  # fmt: skip
def test_a_period_name_that_is_not_a_year_half_or_quarter_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        named_period(text)


def test_a_period_holds_its_first_and_last_day_and_nothing_else() -> None:
    assert Q1.start in Q1
    assert Q1.end in Q1
    assert Q1.start - timedelta(days=1) not in Q1
    assert Q1.end + timedelta(days=1) not in Q1
    assert None not in Q1
    assert "2026-02-01" not in Q1


# --- who is counted -----------------------------------------------------------------------------


def test_every_row_of_the_form_is_there_with_zeros_for_no_facts() -> None:
    assert form(YEAR, Facts()) == dict.fromkeys(KEYS, 0)
    assert list(rows_of(person())) == list(KEYS)


def test_a_person_is_counted_in_every_breakdown_that_describes_them() -> None:
    assert nonzero(rows_of(person())) == PERSON_ROWS


def test_reception_and_identification_each_count_in_the_period_of_their_own_date() -> None:
    late = person(received_on=date(2026, 3, 20), identified_on=date(2026, 4, 2))
    assert rows_of(late, period=Q1)["I.1"] == 1
    assert rows_of(late, period=Q1)["I.2"] == 0
    assert rows_of(late, period=Q2)["I.1"] == 0
    assert rows_of(late, period=Q2)["I.2"] == 1


def test_a_merged_duplicate_is_not_counted_and_the_case_it_was_merged_into_is() -> None:
    kept, duplicate = person("case-1"), person("case-2", merged=True)
    on = date(2026, 2, 3)
    facts = {"protections": (Protection("case-1", on, 2), Protection("case-2", on, 2)),
             "supports": (support("clothing", "case-1"),
                          support("clothing", "case-2"))}  # fmt: skip
    rows = rows_of(kept, duplicate, **facts)
    assert nonzero(rows) == PERSON_ROWS | {"I.3": 2, "II.4.1": 1, "II.4.2": 1}
    assert nonzero(rows_of(duplicate, **facts)) == {}


def test_a_person_who_refused_consent_counts_in_i1_and_i2_but_in_no_i2_breakdown() -> None:
    refused = person(consent_statistics=False)
    assert nonzero(rows_of(refused)) == {"I.1": 1, "I.2": 1}


def test_a_person_who_refused_consent_counts_in_the_protection_and_support_totals() -> None:
    refused = person(consent_statistics=False)
    rows = rows_of(refused, protections=(Protection("case-1", date(2026, 2, 3), 3),),
                   supports=(support("clothing"),))  # fmt: skip
    assert rows["I.3"] == 3
    assert rows["II.4.1"] == 1


def test_a_person_who_refused_consent_counts_in_no_support_row_below_the_total() -> None:
    """The documented rule: counted in I.1, I.2, I.3 and II.4.1 "and in no breakdown"."""
    refused = person(consent_statistics=False)
    helped = tuple(support(kind) for kind in (*KINDS, "loan"))
    rows = rows_of(refused, supports=helped)
    assert nonzero(rows) == {"I.1": 1, "I.2": 1, "II.4.1": 1}


def test_a_person_no_longer_identified_counts_in_i1_only() -> None:
    assert nonzero(rows_of(person(identified_on=None))) == {"I.1": 1}


@pytest.mark.parametrize(
    ("age", "under18", "under16"),
    [(None, 0, 0), (0, 1, 1), (15, 1, 1), (16, 1, 0), (17, 1, 0), (18, 0, 0), (40, 0, 0)],
)
@pytest.mark.parametrize("sex", ["male", "female"])
def test_a_child_under_16_is_also_counted_under_18(
    sex: str, age: int | None, under18: int, under16: int
) -> None:
    rows = rows_of(person(sex=sex, age=age))
    assert (rows[f"I.2.a.{sex}"], rows[f"I.2.a.{sex}.under18"]) == (1, under18)
    assert rows[f"I.2.a.{sex}.under16"] == under16


def test_a_person_of_unknown_sex_is_in_no_sex_row() -> None:
    rows = rows_of(person(sex="unknown", age=10))
    assert not any(rows[key] for key in KEYS if key.startswith("I.2.a."))
    assert rows["I.2"] == 1


@pytest.mark.parametrize("destination", ["KR", "US", "VN", None])
def test_a_destination_outside_the_listed_countries_goes_to_other_countries(
    destination: str | None,
) -> None:
    rows = rows_of(person(destination=destination))
    assert rows["I.2.d.abroad"] == rows["I.2.d.abroad.other"] == 1
    assert not any(rows[f"I.2.d.abroad.{country}"] for country in DESTINATIONS)


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_a_listed_destination_has_its_own_row(destination: str) -> None:
    rows = rows_of(person(destination=destination))
    assert rows[f"I.2.d.abroad.{destination}"] == rows["I.2.d.abroad"] == 1
    assert rows["I.2.d.abroad.other"] == 0


def test_a_person_trafficked_at_home_has_no_destination_row() -> None:
    rows = rows_of(person(scope="domestic", destination="CN"))
    assert rows["I.2.d.domestic"] == 1
    assert not any(rows[key] for key in KEYS if key.startswith("I.2.d.abroad"))


@pytest.mark.parametrize(
    ("changes", "row"),
    [({"ethnicity": "02"}, "I.2.b.other"), ({"ethnicity": None}, None),
     ({"nationality": "LA"}, "I.2.c.foreign"), ({"nationality": None}, None),
     ({"reception_form": "self_returned"}, "I.2.e.self_returned"),
     ({"reception_form": "bilateral_handover"}, "I.2.e.bilateral_handover"),
     ({"reception_form": "suspected"}, None)],
)  # fmt: skip
def test_ethnicity_nationality_and_reception_form_each_have_their_rows(
    changes: dict[str, Any], row: str | None
) -> None:
    rows = nonzero(rows_of(person(**changes)))
    field = next(iter(changes))
    ordinary = {key: value for key, value in PERSON_ROWS.items()
                if not (field == "ethnicity" and key == "I.2.b.kinh")
                and not (field == "reception_form" and key == "I.2.e.rescued")}  # fmt: skip
    assert rows == ordinary | ({row: 1} if row else {})


def test_protection_counts_the_persons_protected_by_the_order_start() -> None:
    orders = (Protection("case-1", date(2026, 3, 31), 3), Protection("case-1", date(2026, 4, 1), 2))
    assert rows_of(person(), period=Q1, protections=orders)["I.3"] == 3
    assert rows_of(person(), period=Q2, protections=orders)["I.3"] == 2
    assert rows_of(person(), protections=orders)["I.3"] == 5


# --- activities ---------------------------------------------------------------------------------


def test_ii1_counts_directive_documents_ii2_outreach_and_materials_ii3_trainings() -> None:
    day = date(2026, 5, 1)
    activities = (
        Activity("directive_document", day),
        Activity("directive_document", day, sessions=3),
        Activity("communication_session", day, sessions=2, participants=140, leaflets=300),
        Activity("materials", day, panels=4, posters=25, leaflets=1000),
        Activity("training", day, sessions=1, participants=35, posters=2),
        Activity("training", date(2027, 1, 1), sessions=9, participants=99),
    )
    assert nonzero(form(YEAR, Facts(activities=activities))) == {
        "II.1": 4, "II.2.sessions": 2, "II.2.participants": 140, "II.2.panels": 4,
        "II.2.posters": 27, "II.2.leaflets": 1300, "II.3.trainings": 1, "II.3.participants": 35,
    }  # fmt: skip


# --- support and money --------------------------------------------------------------------------


def test_ii4_counts_each_person_once_per_support_row() -> None:
    helped = (support("clothing"), support("clothing", on=date(2026, 6, 1)), support("medicine"),
              support("medical_care"), support("health_insurance"), support("loan"),
              support("shelter_meals", "case-2"), support("legal_aid", "case-2"),
              support("education", "case-3", on=date(2027, 1, 1)))  # fmt: skip
    persons = (person("case-1"), person("case-2"), person("case-3"))
    rows = rows_of(*persons, supports=helped)
    assert {key: rows[key] for key in rows if key.startswith("II.4") and rows[key]} == {
        "II.4.1": 2, "II.4.2": 1, "II.4.3": 1, "II.4.4.medical": 1, "II.4.4.legal_aid": 1,
        "II.4.4.loan": 1,
    }  # fmt: skip


@pytest.mark.parametrize(("row", "kinds"), sorted(SUPPORT_ROWS.items()))
def test_every_kind_of_support_lands_in_its_row(row: str, kinds: tuple[str, ...]) -> None:
    for kind in kinds:
        rows = rows_of(person(), supports=(support(kind),))
        assert rows[row] == rows["II.4.1"] == 1
        assert sum(rows[other] for other in (*SUPPORT_ROWS, "II.4.4.loan")) == 1


def test_form_row_4_3_counts_who_needed_a_shelter_not_only_who_stayed() -> None:
    """The official form's 4.3 is "Số nạn nhân có nhu cầu vào lưu trú tạm thời…": a person
    referred to a shelter needed one, even if no stay (and no support) followed."""
    referred = (support(SHELTER_NEEDED, "case-1"), support(SHELTER_NEEDED, "case-2"),
                support("shelter_meals", "case-2"), support("shelter_meals", "case-3"))  # fmt: skip
    rows = rows_of(person("case-1"), person("case-2"), person("case-3"), supports=referred)
    assert rows["II.4.3"] == 3
    assert rows["II.4.1"] == 2  # a need is not support given
    assert rows_of(person(consent_statistics=False), supports=referred[:1])["II.4.3"] == 0


def test_support_of_a_case_outside_the_facts_is_not_counted() -> None:
    assert rows_of(person(), supports=(support("clothing", "case-9"),))["II.4.1"] == 0


def test_ii45_adds_up_vnd_by_kind_and_by_funding_source() -> None:
    paid = (payment("clothing", 500_000), payment("clothing", 250_000, "donor:IOM"),
            payment("road_meals", 60_000, "donor:UNICEF"), payment("unlisted_kind", 7),
            payment("medicine", 1_000_000, on=date(2027, 1, 1)))  # fmt: skip
    rows = form(YEAR, Facts(payments=paid))
    assert nonzero(rows) == {
        "II.4.5.vnd": 810_007, "II.4.5.vnd.clothing": 750_000, "II.4.5.vnd.road_meals": 60_000,
        "II.4.5.vnd.state_budget": 500_007, "II.4.5.vnd.donor": 310_000,
    }  # fmt: skip


# --- properties over many persons ---------------------------------------------------------------

days_2026 = st.dates(date(2026, 1, 1), date(2026, 12, 31))


@st.composite
def people(draw: st.DrawFn) -> Facts:
    persons = []
    for n in range(draw(st.integers(0, 12))):
        received = draw(days_2026)
        persons.append(person(
            f"case-{n}", received_on=received,
            identified_on=draw(st.none() | st.dates(received, date(2026, 12, 31))),
            sex=draw(st.sampled_from(["male", "female", "unknown"])),
            age=draw(st.none() | st.integers(0, 40)),
            ethnicity=draw(st.sampled_from([None, "01", "02", "53"])),
            nationality=draw(st.sampled_from([None, "VN", "LA"])),
            scope=draw(st.sampled_from(["domestic", "abroad", "unknown"])),
            destination=draw(st.sampled_from([None, *DESTINATIONS, "KR"])),
            reception_form=draw(st.sampled_from(["self_returned", "rescued",
                                                 "bilateral_handover", "suspected"])),
            consent_statistics=draw(st.booleans()), merged=draw(st.booleans()),
        ))  # fmt: skip
    ids = [p.case_id for p in persons] or ["case-0"]
    supports = draw(
        st.lists(
            st.builds(Support, st.sampled_from(ids), st.sampled_from([*KINDS, "loan"]), days_2026)
        )
    )
    protections = draw(
        st.lists(st.builds(Protection, st.sampled_from(ids), days_2026, st.integers(1, 4)))
    )
    activities = draw(st.lists(st.builds(
        Activity, st.sampled_from(["directive_document", "communication_session", "training",
                                   "materials"]), days_2026, *[st.integers(0, 50)] * 5,
    )))  # fmt: skip
    payments = draw(
        st.lists(
            st.builds(
                Payment,
                st.sampled_from(KINDS),
                days_2026,
                st.integers(0, 10**7),
                st.sampled_from(["state_budget", "donor:IOM"]),
            )
        )
    )
    return Facts(tuple(persons), tuple(activities), tuple(protections), tuple(supports),
                 tuple(payments))  # fmt: skip


DISTINCT_PERSONS = ("II.4.1", *SUPPORT_ROWS, "II.4.4.loan")


@settings(max_examples=150, deadline=None)
@given(facts=people())
def test_a_year_is_the_sum_of_its_quarters_except_for_persons_helped(facts: Facts) -> None:
    year = form(YEAR, facts)
    quarters = [form(named_period(f"2026-Q{n}"), facts) for n in (1, 2, 3, 4)]
    for key in KEYS:
        added = sum(quarter[key] for quarter in quarters)
        if key in DISTINCT_PERSONS:  # a person helped in two quarters is one person in the year
            assert max(q[key] for q in quarters) <= year[key] <= added
        else:
            assert year[key] == added, key


@settings(max_examples=150, deadline=None)
@given(facts=people())
def test_no_breakdown_is_larger_than_its_total(facts: Facts) -> None:
    rows = form(YEAR, facts)
    for sex in ("male", "female"):
        assert rows[f"I.2.a.{sex}.under16"] <= rows[f"I.2.a.{sex}.under18"]
        assert rows[f"I.2.a.{sex}.under18"] <= rows[f"I.2.a.{sex}"]
    assert rows["I.2.a.male"] + rows["I.2.a.female"] <= rows["I.2"]
    assert rows["I.2.b.kinh"] + rows["I.2.b.other"] <= rows["I.2"]
    assert rows["I.2.c.foreign"] <= rows["I.2"]
    assert rows["I.2.d.domestic"] + rows["I.2.d.abroad"] <= rows["I.2"]
    assert rows["I.2.d.abroad"] == sum(rows[f"I.2.d.abroad.{c}"] for c in (*DESTINATIONS, "other"))
    assert sum(rows[key] for key in KEYS if key.startswith("I.2.e.")) <= rows["I.2"]
    assert rows["I.2"] <= len([p for p in facts.persons if not p.merged])
    for key in DISTINCT_PERSONS:
        assert rows[key] <= rows["II.4.1"]
    assert rows["II.4.5.vnd.state_budget"] + rows["II.4.5.vnd.donor"] == rows["II.4.5.vnd"]
    assert sum(rows[f"II.4.5.vnd.{kind}"] for kind in KINDS) == rows["II.4.5.vnd"]


@pytest.mark.parametrize(
    "text", ["2026\n", "\uff12\uff10\uff12\uff16-Q1", "\u0662\u0660\u0662\u0666", " 2026"]
)  # a trailing newline, full-width digits, Arabic-Indic digits, a space
def test_a_period_name_is_plain_ascii_and_nothing_more(text: str) -> None:
    with pytest.raises(ValueError, match="a period is"):
        named_period(text)
