"""The processing limits of an application for support, as the law counts them: each agency's
stage, its limit in working days, and the due date counted from the day the stage began."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.support.applications import (
    LimitsError,
    LinkedGrant,
    Outcome,
    Procedure,
    StageLimit,
    StageStatus,
    check_application,
    check_decision,
    check_step,
    load_procedures,
    outcome,
    overdue,
    plan,
    procedure_for,
)
from services.support.domain import Facts, regime_of
from services.support.policies import Kind, Regime
from shared.legal_time import DayKind, add_days, is_working_day

PROCEDURES = load_procedures()
OLD, NEW = PROCEDURES[Regime.LAW_66_2011], PROCEDURES[Regime.LAW_53_2024]
APPLIED = (Kind.EDUCATION, Kind.VOCATIONAL_TRAINING, Kind.HARDSHIP_ALLOWANCE)


def stage(procedure: Procedure, name: str) -> StageLimit:
    return next(s for s in procedure.stages if s.stage == name)


def victim(identified_on: date, received_on: date | None = None) -> Facts:
    return Facts(status="identified", received_on=received_on or identified_on, province="08",
                 identified_on=identified_on)  # fmt: skip


# --- the legal table ----------------------------------------------------------------------------


def test_decree_09_art_23_commune_chair_has_3_working_days() -> None:
    commune = OLD.stages[0]
    assert (commune.stage, commune.agency, commune.level) == (
        "commune_forwarding", "commune_people_committee_chair", "commune"
    )  # fmt: skip
    assert (commune.days, commune.day_kind, commune.known) == (3, DayKind.WORKING, True)
    assert "Decree 09/2013/NĐ-CP Art. 23" in commune.legal_basis
    # Received on Wednesday 2025-04-23: Thursday, Friday, then Saturday 2025-04-26, made a
    # working day by government decision to bridge the 30 April and 1 May holidays.
    assert commune.due_on(date(2025, 4, 23)) == date(2025, 4, 26)


def test_decree_09_art_23_district_social_affairs_office_has_5_working_days() -> None:
    office = OLD.stages[1]
    assert (office.stage, office.agency, office.level) == (
        "district_appraisal", "district_social_affairs_office", "district"
    )  # fmt: skip
    assert (office.days, office.day_kind, office.known) == (5, DayKind.WORKING, True)
    assert office.due_on(date(2025, 4, 23)) == date(2025, 4, 29)  # not 2025-05-05


def test_decree_09_art_23_district_chair_has_3_working_days_to_decide() -> None:
    chair = OLD.stages[2]
    assert (chair.stage, chair.agency, chair.days, chair.day_kind) == (
        "district_decision", "district_people_committee_chair", 3, DayKind.WORKING
    )  # fmt: skip
    assert [s.stage for s in OLD.stages] == [
        "commune_forwarding", "district_appraisal", "district_decision"
    ]  # fmt: skip


def test_decree_162_art_24_provincial_health_department_has_9_working_days() -> None:
    (health,) = NEW.stages
    assert (health.stage, health.agency, health.level) == (
        "health_department_decision", "provincial_health_department", "province"
    )  # fmt: skip
    assert (health.days, health.day_kind) == (9, DayKind.WORKING)
    assert "Decree 162/2025/NĐ-CP Art. 24" in health.legal_basis
    assert "112584" in health.legal_basis  # where the 9 days are read: the national portal
    # Received on Thursday 2026-02-12, the eve of Tết Bính Ngọ: the holiday does not count.
    assert health.due_on(date(2026, 2, 12)) == date(2026, 3, 4)


def test_decree_09_art_23_and_decree_162_art_24_are_for_education_training_and_hardship() -> None:
    assert OLD.kinds == NEW.kinds == frozenset(APPLIED)


def test_decree_09_art_23_a_commune_chairs_limit_skips_tet_and_the_weekend() -> None:
    # Friday 2026-02-13 counts; Tết (2026-02-14 to 2026-02-22) and its weekends do not.
    assert stage(OLD, "commune_forwarding").due_on(date(2026, 2, 12)) == date(2026, 2, 24)


# --- the due-date rule, for any start -----------------------------------------------------------

LIMITS = [s for p in PROCEDURES.values() for s in p.stages]


@given(start=st.dates(date(2013, 2, 25), date(2030, 12, 31)), limit=st.sampled_from(LIMITS))
def test_a_stage_is_due_on_a_working_day_exactly_its_limit_of_working_days_after_its_start(
    start: date, limit: StageLimit
) -> None:
    due = limit.due_on(start)
    assert is_working_day(due)
    counted = [start + timedelta(days=n) for n in range(1, (due - start).days + 1)]
    assert sum(is_working_day(day) for day in counted) == limit.days


@given(start=st.dates(date(2013, 2, 25), date(2030, 12, 31)))
def test_each_stage_counts_from_the_day_the_one_before_was_done(start: date) -> None:
    planned = plan(OLD, start)
    assert [p.status for p in planned] == [StageStatus.OPEN, StageStatus.PENDING,
                                           StageStatus.PENDING]  # fmt: skip
    first = (start, add_days(start, 3, DayKind.WORKING))
    assert (planned[0].started_on, planned[0].due_on) == first
    assert [p.due_on for p in planned[1:]] == [None, None]  # not started: no due date yet


def test_a_stage_is_overdue_from_the_day_after_its_last_day() -> None:
    due = date(2026, 2, 24)
    assert not overdue(due, due)
    assert overdue(due, due + timedelta(days=1))
    assert not overdue(None, due)


# --- the procedure of the day the application is received ---------------------------------------


def test_decree_09_art_23_an_application_received_before_2025_07_01_follows_its_procedure() -> None:
    assert procedure_for(PROCEDURES, date(2025, 6, 30)) is OLD


def test_decree_162_an_application_received_from_2025_07_01_goes_to_the_health_department() -> None:
    """A victim identified under Law 66/2011 keeps what that regime grants, but an application
    received once the districts were abolished cannot go to district agencies."""
    assert regime_of(victim(date(2025, 4, 1))).value == "law-66-2011"
    assert procedure_for(PROCEDURES, date(2026, 11, 2)) is NEW


# --- the table as data --------------------------------------------------------------------------

UNKNOWN_ROW = """
[[procedure]]
regime = "law-66-2011"
kinds = ["education"]
legal_basis = "Decree 09/2013/NĐ-CP Art. 23"

[[procedure.stage]]
stage = "commune_forwarding"
agency = "commune_people_committee_chair"
level = "commune"
days = 3
day_kind = "working"
known = true
escalates_to = "district_people_committee"
legal_basis = "Decree 09/2013/NĐ-CP Art. 23"

[[procedure]]
regime = "law-53-2024"
kinds = ["education"]
legal_basis = "Decree 162/2025/NĐ-CP"

[[procedure.stage]]
stage = "commune_forwarding"
agency = "commune_people_committee_chair"
level = "commune"
days = 20
day_kind = "working"
known = false
escalates_to = "provincial_people_committee"
legal_basis = "Decree 162/2025/NĐ-CP (limit not in the sources at hand)"
"""


def test_a_limit_the_sources_do_not_confirm_takes_the_configured_days(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(UNKNOWN_ROW, encoding="utf-8")
    assert load_procedures(path)[Regime.LAW_53_2024].stages[0].days == 20
    configured = load_procedures(path, unknown_days=7)
    assert configured[Regime.LAW_53_2024].stages[0].days == 7
    assert configured[Regime.LAW_66_2011].stages[0].days == 3  # a known limit is the law's


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('regime = "law-53-2024"', 'regime = "law-66-2011"'), "one procedure per regime"),
        (('day_kind = "working"', 'day_kind = "fortnights"'), "day_kind"),
        (("days = 3", "days = 0"), "days"),
        (("days = 3", "days = 3.5"), "days"),
        (("known = true", 'known = "yes"'), "known"),
        (('kinds = ["education"]', 'kinds = ["spa_weekend"]'), "kinds"),
        (('legal_basis = "Decree 09/2013/NĐ-CP Art. 23"\n\n[[procedure.stage]]',
          'legal_basis = "Decree 09/2013/NĐ-CP Art. 23"\n\n[[procedure.stage]]\nowner = "x"'),
         "owner"),
    ],
)  # fmt: skip
def test_a_table_that_cannot_be_trusted_stops_the_service(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(UNKNOWN_ROW.replace(*change, 1), encoding="utf-8")
    with pytest.raises(LimitsError, match=message):
        load_procedures(path)


def test_a_stage_named_twice_is_refused(tmp_path: Path) -> None:
    twice = UNKNOWN_ROW.split("[[procedure]]")
    doubled = twice[1] + twice[1].split("\n\n", 1)[1].replace("[[procedure]]", "")
    path = tmp_path / "limits.toml"
    path.write_text("[[procedure]]" + doubled + "[[procedure]]" + twice[2], encoding="utf-8")
    with pytest.raises(LimitsError, match="repeats"):
        load_procedures(path)


# --- recording, steps and the decision ----------------------------------------------------------

TODAY = date(2025, 5, 20)


def rules_of(refusals: list[object]) -> list[str]:
    return [r.rule for r in refusals]  # type: ignore[attr-defined]


def test_decree_09_art_23_an_application_is_recorded_whatever_the_eligibility() -> None:
    facts = victim(date(2025, 4, 1))  # not a poor household: the district may refuse, in writing
    assert check_application(facts, OLD, APPLIED, date(2025, 5, 2), TODAY) == []


def test_only_the_kinds_the_procedure_covers_are_applied_for() -> None:
    facts = victim(date(2025, 4, 1))
    found = check_application(facts, OLD, [Kind.SHELTER_MEALS, Kind.EDUCATION], TODAY, TODAY)
    assert rules_of(found) == ["kinds.no_procedure"]
    assert "shelter_meals" in found[0].message


def test_an_application_is_received_between_the_reception_and_today() -> None:
    facts = victim(date(2025, 4, 1), received_on=date(2025, 3, 10))
    early = check_application(facts, OLD, [Kind.EDUCATION], date(2025, 3, 9), TODAY)
    late = check_application(facts, OLD, [Kind.EDUCATION], TODAY + timedelta(days=1), TODAY)
    assert rules_of(early) == rules_of(late) == ["received_at.range"]


def test_a_kind_already_applied_for_and_undecided_is_not_applied_for_again() -> None:
    facts = victim(date(2025, 4, 1))
    found = check_application(facts, OLD, [Kind.EDUCATION, Kind.EDUCATION], TODAY, TODAY,
                              already_open={"education"})  # fmt: skip
    assert rules_of(found) == ["kinds.repeated", "application.open"]


def test_a_closed_case_takes_no_application() -> None:
    facts = Facts(status="identified", received_on=TODAY, province="08", closed=True)
    assert rules_of(check_application(facts, OLD, [Kind.EDUCATION], TODAY, TODAY)) == [
        "case.closed"
    ]


def test_only_the_current_stage_is_done_on_a_day_between_its_start_and_today() -> None:
    start = date(2025, 5, 2)
    assert check_step("commune_forwarding", "commune_forwarding", start, start, TODAY) == []
    assert rules_of(check_step("district_decision", "commune_forwarding", start, start,
                               TODAY)) == ["application.stage"]  # fmt: skip
    assert rules_of(check_step("commune_forwarding", "commune_forwarding", start,
                               start - timedelta(days=1), TODAY)) == ["on.range"]  # fmt: skip
    assert rules_of(check_step("commune_forwarding", "commune_forwarding", start,
                               TODAY + timedelta(days=1), TODAY)) == ["on.range"]  # fmt: skip
    assert rules_of(check_step("district_decision", None, None, TODAY, TODAY)) == [
        "application.decided"
    ]


def grant(applied: str, **changes: object) -> LinkedGrant:
    values: dict[str, object] = {"grant_id": f"g-{applied}", "case_id": "c-1", "kind": applied,
                                 "beneficiary": "person", "status": "approved",
                                 "linked_elsewhere": False}  # fmt: skip
    return LinkedGrant(**(values | changes))  # type: ignore[arg-type]


def test_the_decision_answers_every_kind_applied_for() -> None:
    applied = ["education", "hardship_allowance"]
    ok = check_decision(applied, "person", "c-1", {"education": grant("education")},
                        refused=["hardship_allowance"], reason="not a poor household")  # fmt: skip
    assert ok == []
    missing = check_decision(applied, "person", "c-1", {"education": grant("education")},
                             refused=[], reason=None)  # fmt: skip
    assert rules_of(missing) == ["decision.kinds"]
    unexplained = check_decision(applied, "person", "c-1", {}, refused=applied, reason=None)
    assert rules_of(unexplained) == ["decision.reason"]


@pytest.mark.parametrize(
    "linked",
    [
        None,
        grant("education", case_id="c-2"),
        grant("education", kind="vocational_training"),
        grant("education", beneficiary="minor-1"),
        grant("education", status="rejected"),
        grant("education", linked_elsewhere=True),
    ],
)
def test_an_approved_kind_is_given_by_a_grant_of_that_kind_to_that_person(
    linked: LinkedGrant | None,
) -> None:
    found = check_decision(["education"], "person", "c-1", {"education": linked}, refused=[],
                           reason=None)  # fmt: skip
    assert rules_of(found) == ["decision.grant"]


def test_the_outcome_of_a_decision() -> None:
    assert outcome(["education"], []) is Outcome.APPROVED
    assert outcome(["education"], ["hardship_allowance"]) is Outcome.PARTLY_APPROVED
    assert outcome([], ["hardship_allowance"]) is Outcome.REFUSED
