"""The HTCDS export: every code the platform uses is mapped to the standard's code list or
marked unmappable and said so, and for any register every released record's quasi-identifiers
occur at least k times among the released records, with nothing personal in them."""

import json
import random
from collections import Counter
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.reports.catalogues import LABELS, Purpose, ReceptionForm, Scope, Sex, countries
from services.stats import anonymity, htcds, store
from services.stats.app import MIGRATIONS
from services.stats.domain import Period, Person
from shared.db import Database
from shared.migrations import upgrade
from tests.conftest import DatabaseFactory
from tests.services.stats.deliveries import archive_row, rebuild_in_place, received, sent

YEAR = Period(date(2026, 1, 1), date(2026, 12, 31))
BANDS = {*(f"{low}--{high}" for low, high in htcds.AGE_BANDS), "48+"}
RELEASED_FIELDS = {*anonymity.QUASI_IDENTIFIERS, "vic_TraffickingStatus", "hte_Type",
                   "org_ShippingCountry"}  # fmt: skip


def person(case_id: str = "case-1", **changes: Any) -> Person:
    values: dict[str, Any] = {
        "received_on": date(2026, 1, 10), "province": "11", "ward": "03253", "sex": "female",
        "age": 20, "ethnicity": "01", "nationality": "VN", "scope": "abroad",
        "destination": "CN", "reception_form": "rescued", "consent_statistics": True,
        "identified_on": date(2026, 2, 1), "purposes": ("forced_marriage",),
    }  # fmt: skip
    return Person(case_id=case_id, **(values | changes))


# --- the mapping --------------------------------------------------------------------------------


def test_every_sex_the_platform_records_is_a_gender_of_the_standard() -> None:
    assert set(htcds.GENDER) == {sex.value for sex in Sex}
    assert set(htcds.GENDER.values()) <= set(htcds.GENDERS)


def test_every_purpose_of_exploitation_is_a_type_of_exploitation_of_the_standard() -> None:
    assert set(htcds.EXPLOITATION) == {purpose.value for purpose in Purpose}
    assert set(htcds.EXPLOITATION.values()) <= set(htcds.EXPLOITATION_TYPES)


def test_every_scope_gives_a_country_of_exploitation_or_none_never_unmappable() -> None:
    assert set(htcds.SCOPES) == {scope.value for scope in Scope}
    for scope in Scope:
        unmapped = htcds.Unmapped()
        found = htcds.exploited_in(person(scope=scope.value), unmapped)
        assert found is None or htcds.is_country(found), scope
        assert not unmapped.codes


def test_every_country_the_platform_accepts_is_an_iso_code_of_the_standard() -> None:
    for code in countries():
        unmapped = htcds.Unmapped()
        assert htcds.record(person(nationality=code), unmapped)["prs_Citizenship"] == code
        assert htcds.exploited_in(person(destination=code), unmapped) == code
        assert not unmapped.codes, code


def test_what_the_standard_has_no_field_for_is_said_not_exported() -> None:
    """Reception forms and the 54 ethnic groups: HTCDS v2 has no field; the export says so."""
    assert {form.value for form in ReceptionForm}  # the list exists, and has no HTCDS field
    assert LABELS["ethnic_groups"]
    assert {"reception_form", "ethnicity", "ward", "age", "case_id"} <= set(htcds.NOT_IN_STANDARD)
    export = htcds.release([person()], YEAR, 1, 0.0)
    assert export["not_in_standard"] == htcds.NOT_IN_STANDARD
    assert not {"reception_form", "ethnicity", "ward"} & set(export["records"][0])


def test_a_code_outside_the_catalogues_is_released_as_unmappable_and_named() -> None:
    persons = [person(f"c-{n}", sex="intersex", purposes=("begging_x", "forced_labour"),
                      nationality="ZZ") for n in range(3)]  # fmt: skip
    export = htcds.release(persons, YEAR, 3, 0.0)
    [record, *_] = export["records"]
    assert record["prs_Gender"] == htcds.UNMAPPABLE
    assert record["prs_Citizenship"] == htcds.UNMAPPABLE
    assert record["vic_TypeOfExploitation"] == ["ForcedLabour", htcds.UNMAPPABLE]
    named = {"records": 3, "records_with_rarer_codes": 0}
    assert export["unmapped"] == {
        "prs_Citizenship": named | {"codes": ["ZZ"]},
        "prs_Gender": named | {"codes": ["intersex"]},
        "vic_TypeOfExploitation": named | {"codes": ["begging_x"]},
    }


def test_a_suppressed_persons_unmappable_code_is_not_named() -> None:
    persons = [person(f"c-{n}") for n in range(3)] + [person("odd", sex="intersex")]
    export = htcds.release(persons, YEAR, 3, 0.0)
    assert export["counts"]["suppressed"] == 1
    assert export["unmapped"] == {}


def rare_codes_among_common_ones(n_common: int, **rare: Any) -> list[Person]:
    """Ten persons with one unmappable code, one otherwise alike with another (``rare``), and
    forty others: the eleven all show ``Unmappable`` there, one class."""
    common = {"nationality": "ZZ", "purposes": ("begging_x",), "destination": "XX"}
    return ([person(f"zz-{n}", **common) for n in range(n_common)]
            + [person("rare", **(common | rare))]
            + [person(f"other-{n}") for n in range(40)])  # fmt: skip


def metadata(export: dict[str, Any]) -> str:
    return json.dumps({name: value for name, value in export.items() if name != "records"})


@pytest.mark.parametrize(
    ("field", "rare"),
    [("prs_Citizenship", {"nationality": "QQ"}),
     ("vic_TypeOfExploitation", {"purposes": ("begging_q",)}),
     ("hte_Country", {"destination": "QQ"})],
)  # fmt: skip
def test_a_code_only_one_released_person_has_is_never_named(field: str, rare: Any) -> None:
    """Regression: the eleven of a class of k = 11 all showed ``Unmappable``, and the metadata
    listed every code behind it, ``QQ`` too: whoever knew a QQ citizen was trafficked learnt her
    whole record. Now no code fewer than k released records carry is named; they are counted."""
    [rare_code] = {v if isinstance(v, str) else v[0] for v in rare.values()}
    export = htcds.release(rare_codes_among_common_ones(10, **rare), YEAR, 11, 0.0)
    assert export["counts"] == {"identified": 51, "without_consent": 0, "released": 51,
                                "suppressed": 0}  # fmt: skip
    assert rare_code not in metadata(export)
    # the ten's code is not named either (10 < k); the other fields' code all eleven carry is
    assert export["unmapped"][field] == {"records": 11, "codes": [],
                                         "records_with_rarer_codes": 11}  # fmt: skip
    assert all(meta == {"records": 11, "codes": [meta["codes"][0]], "records_with_rarer_codes": 0}
               for name, meta in export["unmapped"].items() if name != field)  # fmt: skip
    # with k = 10 the ten's code is named, and the one's still only counted
    export = htcds.release(rare_codes_among_common_ones(10, **rare), YEAR, 10, 0.0)
    assert export["counts"]["released"] == 51
    assert rare_code not in metadata(export)
    common = {"prs_Citizenship": "ZZ", "vic_TypeOfExploitation": "begging_x", "hte_Country": "XX"}
    assert export["unmapped"][field] == {"records": 11, "codes": [common[field]],
                                         "records_with_rarer_codes": 1}  # fmt: skip


def test_ages_are_ctdc_bands() -> None:
    ages = {0: "0--8", 8: "0--8", 9: "9--17", 17: "9--17", 18: "18--20", 29: "27--29",
            30: "30--38", 47: "39--47", 48: "48+", 90: "48+"}  # fmt: skip
    assert {age: htcds.age_band(age) for age in ages} == ages
    majorities = [htcds.majority(age) for age in (17, 18, None)]
    assert majorities == ["Minor", "Adult", None]


# --- k-anonymity, for any register --------------------------------------------------------------


@st.composite
def registers(draw: st.DrawFn) -> list[Person]:
    """Persons of three provinces, identified or not, in or out of the year, some merged, some
    without consent, with codes inside and outside the catalogues (several outside codes for a
    field, some rare, so that one class showing ``Unmappable`` may hide different codes)."""
    size = draw(st.integers(0, 60))
    found = []
    for n in range(size):
        identified = draw(st.one_of(st.none(), st.dates(date(2025, 11, 1), date(2027, 2, 1))))
        found.append(person(
            f"case-{n}-{draw(st.integers(0, 10**6))}",
            received_on=draw(st.dates(date(2024, 1, 1), date(2026, 12, 31))),
            province=draw(st.sampled_from(["11", "12", "01"])),
            sex=draw(st.sampled_from([*(s.value for s in Sex), "intersex", "intersex", "x-sex"])),
            age=draw(st.one_of(st.none(), st.integers(0, 90))),
            nationality=draw(st.sampled_from([None, "VN", "VN", "CN", "LA", "ZZ", "ZZ", "QQ"])),
            scope=draw(st.sampled_from([*(s.value for s in Scope), "abroad", "elsewhere"])),
            destination=draw(st.sampled_from([None, "CN", "LA", "KH", "MY", "XX", "XX", "QQ"])),
            purposes=tuple(draw(st.sets(st.sampled_from([*(p.value for p in Purpose), "x", "x",
                                                         "y"]), max_size=2))),
            identified_on=identified,
            merged=draw(st.booleans()) and n % 5 == 0,
            consent_statistics=draw(st.booleans()) or n % 3 != 0,
        ))  # fmt: skip
    return found


@st.composite
def crowded_registers(draw: st.DrawFn) -> list[Person]:
    """A few kinds of person, many of each, alike but for codes outside the catalogues: classes
    of k or more that show ``Unmappable`` and hide different codes, some only one person has."""
    found = []
    for kind in range(draw(st.integers(1, 4))):
        alike = {
            "province": draw(st.sampled_from(["11", "12"])),
            "age": draw(st.sampled_from([None, 15, 20, 50])),
            "scope": draw(st.sampled_from(["abroad", "abroad", "domestic", "elsewhere"])),
        }
        sex = draw(st.sampled_from(["female", "intersex"]))
        for n in range(draw(st.integers(1, 25))):
            found.append(person(
                f"kind-{kind}-{n}", **alike,
                sex=draw(st.sampled_from([sex, sex, sex, "x-sex"])),
                nationality=draw(st.sampled_from(["VN", "ZZ", "ZZ", "ZZ", "QQ"])),
                destination=draw(st.sampled_from(["CN", "XX", "XX", "XX", "QQ"])),
                purposes=(draw(st.sampled_from(["forced_labour", "x", "x", "x", "y"])),),
                consent_statistics=draw(st.booleans()) or n % 4 != 0,
            ))  # fmt: skip
    return found


@settings(max_examples=150, deadline=None)
@given(st.one_of(registers(), crowded_registers()), st.integers(1, 12),
       st.sampled_from([0.0, 0.1, 0.5, 1.0]))  # fmt: skip
def test_every_released_combination_occurs_at_least_k_times(
    persons: list[Person], k: int, max_suppressed: float
) -> None:
    export = htcds.release(persons, YEAR, k, max_suppressed)
    released = [{n: tuple(v) if isinstance(v, list) else v for n, v in r.items()}
                for r in export["records"]]  # fmt: skip
    sizes = Counter(anonymity.combination(record) for record in released)
    assert all(size >= k for size in sizes.values())
    # the quasi-identifiers are every field that varies, as released
    assert set(export["quasi_identifiers"]) | set(export["withheld"]) == set(
        anonymity.QUASI_IDENTIFIERS
    )
    # the counts add up
    counts = export["counts"]
    identified = [p for p in persons if not p.merged and p.identified_on in YEAR]
    assert counts["identified"] == len(identified)
    assert counts["without_consent"] == sum(not p.consent_statistics for p in identified)
    assert counts["released"] == len(export["records"])
    assert counts["identified"] == (
        counts["without_consent"] + counts["released"] + counts["suppressed"]
    )
    assert_nothing_personal(export, persons)
    assert_no_code_named_is_rarer_than_k(export, persons, k)


def assert_nothing_personal(export: dict[str, Any], persons: list[Person]) -> None:
    case_ids = {p.case_id for p in persons}
    for record in export["records"]:
        assert set(record) <= RELEASED_FIELDS  # no case id, name, exact age, ward, date
        assert "age" not in record
        assert record.get("ageBroad") in BANDS | {None}
        assert not case_ids & {str(v) for v in record.values()}
        numbers = [v for v in record.values() if isinstance(v, int)]
        assert numbers == [record.get("yearOfRegistration")] or (
            "yearOfRegistration" in export["withheld"] and not numbers
        )
        for name, value in record.items():  # an unmappable value is always counted
            if value == htcds.UNMAPPABLE or (isinstance(value, list) and htcds.UNMAPPABLE in value):
                assert export["unmapped"][name]["records"] >= 1, name


def strings(value: Any) -> set[str]:
    """Every string in a JSON value: keys, values, items."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {*value} | {s for item in value.values() for s in strings(item)}
    if isinstance(value, list):
        return {s for item in value for s in strings(item)}
    return set()


def assert_no_code_named_is_rarer_than_k(
    export: dict[str, Any], persons: list[Person], k: int
) -> None:
    """Every raw platform code named anywhere in the export's metadata is carried by at least k
    released records, and the counts of ``unmapped`` are the released records' own. Which
    persons are released is found from the records alone: a class is released whole or not."""
    withheld = export["withheld"]
    released = [{n: tuple(v) if isinstance(v, list) else v for n, v in r.items()}
                for r in export["records"]]  # fmt: skip
    classes = {anonymity.combination(record) for record in released}
    raw: set[str] = set()  # every code outside the catalogues anyone in the register has
    marks: list[dict[str, set[str]]] = []  # the released persons' codes, by released field
    for candidate in persons:
        mark = htcds.Unmapped()
        row = htcds.generalised(htcds.record(candidate, mark))
        raw |= {code for codes in mark.codes.values() for code in codes}
        exported = not candidate.merged and candidate.identified_on in YEAR
        in_a_class = anonymity.combination(anonymity.withheld(row, withheld)) in classes
        if exported and candidate.consent_statistics and in_a_class:
            marks.append({n: c for n, c in mark.codes.items() if n not in withheld})
    assert len(marks) == len(released)
    # anywhere in the metadata: a raw code named is carried by at least k released records
    named = strings({name: value for name, value in export.items() if name != "records"}) & raw
    for code in named:
        assert sum(any(code in c for c in mark.values()) for mark in marks) >= k, code
    # by field: each code named there is carried there by k; the counts are the records' own
    for name, meta in export["unmapped"].items():
        for code in meta["codes"]:
            assert sum(code in mark.get(name, set()) for mark in marks) >= k, (name, code)
        showing = [r for r in released if htcds.UNMAPPABLE in _values(r.get(name))]
        assert meta["records"] == len(showing) == sum(name in mark for mark in marks) >= 1
        rarer = sum(not mark.get(name, set()) <= set(meta["codes"]) for mark in marks)
        assert meta["records_with_rarer_codes"] == rarer, name
    assert {n for mark in marks for n in mark} == set(export["unmapped"])


def _values(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


@settings(max_examples=50, deadline=None)
@given(registers(), st.integers(1, 12))
def test_the_order_of_the_register_says_nothing(persons: list[Person], k: int) -> None:
    shuffled = list(persons)
    random.Random(len(persons)).shuffle(shuffled)
    assert htcds.release(shuffled, YEAR, k, 0.1) == htcds.release(persons, YEAR, k, 0.1)


def test_eleven_alike_are_released_and_the_twelfth_unlike_them_is_suppressed() -> None:
    persons = [person(f"alike-{n}") for n in range(11)] + [person("odd", age=55)]
    export = htcds.release(persons, YEAR, 11, 0.1)
    assert export["counts"] == {"identified": 12, "without_consent": 0, "released": 11,
                                "suppressed": 1}  # fmt: skip
    assert export["withheld"] == []  # 1 in 12 suppressed is within the 10% allowed
    assert {r["ageBroad"] for r in export["records"]} == {"18--20"}


def test_when_too_many_would_be_suppressed_the_age_is_generalised_first() -> None:
    """Eleven aged 18 to 20 and five aged 22: the five are fewer than k=11 in their band, and
    suppressing them (31%) is more than the 10% allowed; as adults all sixteen are alike."""
    ages = [18] * 6 + [19] * 5 + [22] * 5
    persons = [person(f"c-{n}", age=age) for n, age in enumerate(ages)]
    export = htcds.release(persons, YEAR, 11, 0.1)
    assert export["withheld"] == ["ageBroad"]
    assert export["counts"]["released"] == 16
    assert {r["majorityStatus"] for r in export["records"]} == {"Adult"}
    assert all("ageBroad" not in r for r in export["records"])


async def test_the_upgrade_fills_the_purposes_in_from_the_archive(
    new_database_url: DatabaseFactory,
) -> None:
    """Revision 0010: a database projected before stats kept the purposes gets them from the
    archive, as a rebuild would."""
    database = Database(await new_database_url())
    try:
        await upgrade(database, MIGRATIONS, "0009")
        event = sent(received("case-1", purposes=["forced_labour", "sexual_exploitation"]))
        columns = ("case_id", "received_on", "province", "sex", "scope", "reception_form",
                   "consent_statistics")  # fmt: skip
        persons = sa.table("persons", *(sa.column(name) for name in columns))
        async with database.transaction() as session:
            assert await store.archived(session, archive_row(event))
            await session.execute(persons.insert().values(
                case_id="case-1", received_on=date(2026, 1, 10), province="11", sex="female",
                scope="abroad", reception_form="rescued", consent_statistics=True))  # fmt: skip
        await upgrade(database, MIGRATIONS)
        async with database.reading() as session:
            [upgraded] = (await store.facts(session, "11", None)).persons
        assert upgraded.purposes == ("forced_labour", "sexual_exploitation")
        await rebuild_in_place(database)
        async with database.reading() as session:
            assert (await store.facts(session, "11", None)).persons[0].purposes == upgraded.purposes
    finally:
        await database.dispose()
