"""Verification time limits as the law counts them: each step's start, limit and day kind, from
deadlines.toml; who acts in each step, by regime and route, from routing.toml."""

from datetime import date
from typing import Any

import pytest

from services.verification.domain import DecisionRefused, check_decision, worth_a_reminder
from services.verification.procedures import (
    Procedures,
    Route,
    StepRefused,
    complete,
    current,
    load,
    opened_steps,
    route_of,
)

PROCEDURES = load()
TODAY = date(2026, 12, 1)


def steps_for(
    received: date, route: Route = Route.SELF_REPORT, p: Procedures = PROCEDURES
) -> list[dict[str, Any]]:
    return opened_steps(p, p.plan(received, route).procedure, received)


def test_law_66_art_24_the_social_affairs_step_is_3_calendar_days_not_working_days() -> None:
    first = steps_for(date(2025, 6, 6))[0]  # a Friday: 3 working days would end on Wednesday
    assert (first["step"], first["day_kind"], first["days"]) == ("social_affairs_request",
                                                                 "calendar", 3)  # fmt: skip
    assert first["due_on"] == "2025-06-09"  # Monday
    assert first["agencies"] == ["district_social_affairs"]
    assert "66/2011" in first["legal_basis"]
    assert "Art. 24" in first["legal_basis"]


def test_law_66_art_24_the_polices_20_days_run_from_the_request_not_from_reception() -> None:
    steps = steps_for(date(2025, 3, 3))
    police = steps[1]
    assert (police["step"], police["start"], police["due_on"]) == ("police_verification",
                                                                   "request", None)  # fmt: skip
    done = complete(PROCEDURES, steps, "social_affairs_request", date(2025, 3, 6), TODAY,
                    last_ends_task=False)  # fmt: skip
    police = current(done)
    assert police is not None
    assert (police["starts_on"], police["due_on"]) == ("2025-03-06", "2025-03-26")
    assert police["agencies"] == ["district_police"]


def test_law_53_art_27_the_provincial_health_department_and_police_verify_in_3_days() -> None:
    first, police = steps_for(date(2025, 7, 7))
    assert first["agencies"] == ["provincial_health_department", "provincial_police"]
    assert (first["days"], first["day_kind"], first["due_on"]) == (3, "calendar", "2025-07-10")
    assert "Art. 27" in first["legal_basis"]
    assert "86/2025" in first["legal_basis"]
    assert first["known"] is True
    assert (police["agencies"], police["known"]) == (["provincial_police"], False)


def test_law_53_art_27_a_3_day_limit_ending_in_tet_rolls_past_tet_and_the_weekends() -> None:
    # Civil Code 2015 Art. 148(5): 2026-02-15 is a Sunday, then Tết 16-20 and a weekend
    assert steps_for(date(2026, 2, 12))[0]["due_on"] == "2026-02-23"


def test_law_53_the_police_identification_limit_is_unknown_and_configured() -> None:
    key = "law53_self_report.police_identification"
    configured = load(unknown_limits={key: 30}, unknown_days=10)
    steps = steps_for(date(2025, 7, 7), p=configured)
    assert steps[0]["days"] == 3  # a limit the law sets is never configured away
    done = complete(configured, steps, "provincial_initial_verification", date(2025, 7, 9),
                    TODAY, last_ends_task=False)  # fmt: skip
    assert current(done)["due_on"] == "2025-08-08"  # type: ignore[index]
    rescued = steps_for(date(2025, 7, 7), Route.RESCUED, configured)[0]
    assert rescued["days"] == 10  # the setting for every other open limit
    with pytest.raises(ValueError, match="not a step whose limit is unknown"):
        load(unknown_limits={"law53_self_report.provincial_initial_verification": 5})


@pytest.mark.parametrize(
    ("received", "channel", "form", "procedure", "article", "agencies"),
    [
        (date(2025, 6, 2), "commune", "self_returned", "law66_self_report", "66/2011/QH12 Art. 24",
         ["district_social_affairs"]),
        (date(2025, 6, 2), "police", "rescued", "law66_rescued", "66/2011/QH12 Art. 25",
         ["rescuing_agency"]),
        (date(2025, 6, 2), "border_guard", "bilateral_handover", "law66_returned",
         "66/2011/QH12 Art. 26", ["border_guard", "provincial_police"]),
        (date(2025, 7, 1), "hotline_111", "suspected", "law53_self_report", "53/2024/QH15 Art. 27",
         ["provincial_health_department", "provincial_police"]),
        (date(2025, 7, 1), "border_guard", "self_returned", "law53_self_report",
         "53/2024/QH15 Art. 27", ["provincial_health_department", "provincial_police"]),
        (date(2025, 7, 1), "border_guard", "rescued", "law53_rescued", "53/2024/QH15 Art. 28",
         ["rescuing_agency", "provincial_health_department"]),
        (date(2025, 7, 1), "foreign_authority", "self_returned", "law53_returned",
         "53/2024/QH15 Arts. 29-30", ["provincial_police", "border_guard"]),
    ],
)  # fmt: skip
def test_law_66_arts_24_26_and_law_53_arts_27_30_route_each_case_to_its_agencies(
    received: date, channel: str, form: str, procedure: str, article: str, agencies: list[str]
) -> None:
    plan = PROCEDURES.plan(received, route_of(channel, form))
    assert plan.procedure.id == procedure
    assert article in plan.legal_basis
    assert opened_steps(PROCEDURES, plan.procedure, received)[0]["agencies"] == agencies


def test_commune_police_verify_under_neither_law() -> None:
    for procedure in PROCEDURES.procedures.values():
        for step in procedure.steps:
            assert "commune_police" not in step.agencies


def test_a_law_66_case_received_before_the_districts_went_keeps_its_limits_successors_act() -> None:
    # A step still running on 2025-07-01 passes to the agency that took the district's part.
    assert steps_for(date(2025, 6, 27))[0]["agencies"] == ["district_social_affairs"]  # due 06-30
    running = steps_for(date(2025, 6, 28))[0]  # due 2025-07-01
    assert (running["agencies"], running["days"]) == (["provincial_health_department"], 3)
    assert "66/2011" in running["legal_basis"]
    done = complete(PROCEDURES, steps_for(date(2025, 6, 20)), "social_affairs_request",
                    date(2025, 6, 23), TODAY, last_ends_task=False)  # fmt: skip
    police = current(done)
    assert police is not None
    assert (police["agencies"], police["due_on"]) == (["provincial_police"], "2025-07-14")


@pytest.mark.parametrize(
    ("age", "route", "received", "opened"),
    [
        (12, Route.RETURNED, date(2025, 8, 1), True),
        (15, Route.RETURNED, date(2025, 8, 1), True),
        (16, Route.RETURNED, date(2025, 8, 1), False),  # "trẻ em": under 16 (Law on Children)
        (None, Route.RETURNED, date(2025, 8, 1), False),
        (12, Route.RETURNED, date(2025, 6, 30), False),  # Law 66 has no such task
        (12, Route.SELF_REPORT, date(2025, 8, 1), False),
    ],
)
def test_law_53_art_30_a_child_victims_return_is_a_task_for_child_protection(
    age: int | None, route: Route, received: date, opened: bool
) -> None:
    plan = PROCEDURES.child_plan(received, route, age)
    assert (plan is not None) == opened
    if plan is not None:
        (step,) = opened_steps(PROCEDURES, plan.procedure, received)
        assert step["agencies"] == ["child_protection"]
        assert "Art. 30" in plan.legal_basis
        assert step["known"] is False  # no limit in the text at hand: configured, and says so
        assert step["due_on"] == "2025-08-04"  # 3 calendar days, rolled past a Sunday


def test_a_step_is_done_only_when_under_way_dated_between_its_start_and_today() -> None:
    steps = steps_for(date(2025, 7, 7))
    with pytest.raises(StepRefused) as refused:
        complete(PROCEDURES, steps, "police_identification", TODAY, TODAY, last_ends_task=False)
    assert refused.value.status == 409
    for on in (date(2025, 7, 6), date(2026, 12, 2)):
        with pytest.raises(StepRefused) as refused:
            complete(PROCEDURES, steps, "provincial_initial_verification", on, TODAY,
                     last_ends_task=False)  # fmt: skip
        assert refused.value.status == 422
    done = complete(PROCEDURES, steps, "provincial_initial_verification", date(2025, 7, 8),
                    TODAY, last_ends_task=False)  # fmt: skip
    with pytest.raises(StepRefused, match="ends with the identification decision"):
        complete(PROCEDURES, done, "police_identification", TODAY, TODAY, last_ends_task=False)
    assert steps[0]["done_on"] is None  # the stored steps are not changed in place


@pytest.mark.parametrize(
    ("decided", "already", "reason", "field"),
    [
        (date(2026, 1, 1), False, None, "decided_at"),
        (date(2026, 3, 1), True, None, "amend_reason"),
        (date(2026, 3, 1), False, "why", "amend_reason"),
    ],
)
def test_decisions_that_may_not_be_taken(
    decided: date, already: bool, reason: str | None, field: str
) -> None:
    with pytest.raises(DecisionRefused) as refused:
        check_decision(decided, date(2026, 2, 1), date(2026, 4, 1),
                       already_decided=already, amend_reason=reason)  # fmt: skip
    assert refused.value.field == field


def test_law_53_art_27_a_3_day_step_is_not_reminded_of_at_once() -> None:
    """The reminder comes three days before the due date: a step that is all within those
    three days gets none (its agencies were told when it started); a 20-day step gets one."""
    started = date(2026, 3, 2)
    assert not worth_a_reminder(started, date(2026, 3, 5))
    assert worth_a_reminder(started, date(2026, 3, 22))
    assert worth_a_reminder(None, date(2026, 3, 5))  # a task from before steps were recorded
