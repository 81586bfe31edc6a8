"""Legal deadlines as data: the regime of the reception date, calendar and working days."""

from datetime import date

import pytest

from services.verification.domain import (
    DecisionRefused,
    check_decision,
    competent_agencies,
    due_on,
    limit_for,
    load_limits,
)
from shared.legal_time import DayKind

LIMITS = load_limits()


def test_the_old_regime_applies_up_to_2025_06_30_and_the_new_one_after() -> None:
    old = limit_for(LIMITS, "police_verification", date(2025, 6, 30))
    new = limit_for(LIMITS, "police_verification", date(2025, 7, 1))
    assert "66/2011" in old.legal_basis
    assert old.known
    assert "53/2024" in new.legal_basis
    assert not new.known
    assert due_on(LIMITS, date(2025, 6, 30)) == date(2025, 7, 21)  # 20 July is a Sunday


def test_an_unknown_limit_takes_the_configured_value_and_a_known_one_does_not() -> None:
    configured = load_limits(unknown_days=30)
    assert due_on(configured, date(2025, 7, 1)) == date(2025, 7, 31)
    assert due_on(configured, date(2025, 6, 30)) == date(2025, 7, 21)


def test_the_social_protection_step_counts_working_days() -> None:
    limit = limit_for(LIMITS, "social_protection_acts", date(2025, 1, 24))
    assert (limit.days, limit.day_kind) == (3, DayKind.WORKING)


def test_border_cases_go_to_the_border_guard_and_provincial_police() -> None:
    assert competent_agencies("border_guard", "rescued") == ["border_guard", "provincial_police"]
    assert competent_agencies("commune", "bilateral_handover") == [
        "border_guard", "provincial_police",
    ]  # fmt: skip
    assert competent_agencies("hotline_111", "suspected") == ["commune_police"]


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
