"""Report rules as plain calls, and generated bodies that must be refused cleanly."""

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.intake.reports.domain import age_on, legal_status, normalise_name, problems
from services.intake.reports.schemas import ReportIn
from tests.e2e.test_reports import REPORT


def test_a_valid_report_breaks_no_rule() -> None:
    assert problems(ReportIn.model_validate(REPORT)) == []


def test_age_is_counted_on_the_day() -> None:
    assert age_on(date(2009, 3, 14), date(2026, 3, 13)) == 16
    assert age_on(date(2009, 3, 14), date(2026, 3, 14)) == 17


def test_names_compare_without_diacritics() -> None:
    assert normalise_name("  Nguyễn  Thị ĐÀO ") == normalise_name("nguyen thi dao")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(REPORT)), value=json_values)
def test_any_body_is_either_a_valid_report_or_refused_with_named_fields(
    field: str, value: Any
) -> None:
    body = {**REPORT, field: value}
    try:
        report = ReportIn.model_validate(body)
    except ValidationError as error:
        located = [e["loc"] for e in error.errors()]
    else:
        located = [(problem.field,) for problem in problems(report)]
    assert all(located), "every refusal names the field at fault"


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(st.text(max_size=15), json_values, max_size=8))
def test_arbitrary_json_never_crashes_validation(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        ReportIn.model_validate(body)
    assert refused.value.errors(), "a refusal always says what is wrong"


@pytest.mark.parametrize(
    ("person", "status"),
    [
        pytest.param({"nationality": "VN"}, "vietnamese", id="a Vietnamese citizen"),
        pytest.param({"nationality": "CN"}, "foreign", id="a foreigner"),
        pytest.param({"nationality": None, "stateless": True,
                      "residence": {"province": "11", "ward": "03325"}},
                     "stateless_resident", id="a stateless person residing in Viet Nam"),
        pytest.param({"nationality": None, "stateless": True}, "foreign",
                     id="a stateless person not residing here"),
        pytest.param({"nationality": None}, None, id="nationality not recorded"),
    ],
)  # fmt: skip
def test_law_53_2024_art_37_intake_codes_nationality_and_residence(
    person: dict[str, Any], status: str | None
) -> None:
    """What support's entitlements turn on, coded: no nationality itself reaches support."""
    report = ReportIn.model_validate({**REPORT, "person": {**REPORT["person"], **person}})
    assert problems(report) == []
    assert legal_status(report.person) == status


def test_a_stateless_person_has_no_nationality() -> None:
    report = ReportIn.model_validate({**REPORT, "person": {**REPORT["person"], "stateless": True,
                                                           "nationality": "VN"}})  # fmt: skip
    assert [p.field for p in problems(report)] == ["person.nationality"]
