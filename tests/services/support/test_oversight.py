"""Who may act on support: four eyes over what one officer grants in twelve months, so that
splitting an amount gains nothing; a provider only on the referrals addressed to its agency."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from uuid6 import uuid7

from services.support.oversight import (
    APPROVAL_PERIOD,
    EarlierGrant,
    may_answer,
    needs_second_officer,
    recorded_at,
)
from shared.access import Area, Principal, Role

THRESHOLD = 2_000_000
NOW = datetime(2026, 12, 2, 3, tzinfo=UTC)


def grant_in_turn(amounts: list[int], threshold: int = THRESHOLD) -> list[bool]:
    """Each grant of a split, one after another by one officer: whether it waits."""
    earlier: list[EarlierGrant] = []
    pending = []
    for n, amount in enumerate(amounts):
        waits = needs_second_officer(amount, earlier, threshold, NOW)
        pending.append(waits)
        status = "pending_approval" if waits else "approved"
        earlier.append(EarlierGrant(amount, NOW - timedelta(minutes=len(amounts) - n), status))
    return pending


@given(
    total=st.integers(1, 3 * THRESHOLD),
    cuts=st.lists(st.floats(0, 1, exclude_max=True), max_size=30),
)
def test_any_split_needs_approval_exactly_when_the_sum_passes_the_threshold(
    total: int, cuts: list[float]
) -> None:
    points = sorted({int(total * c) for c in cuts} - {0})
    amounts = [b - a for a, b in zip([0, *points], [*points, total], strict=True)]
    assert sum(amounts) == total
    assert all(a > 0 for a in amounts)
    pending = grant_in_turn(amounts)
    assert any(pending) == (total > THRESHOLD)  # the same as one grant of the whole
    running = [sum(amounts[: i + 1]) for i in range(len(amounts))]
    assert pending == [so_far > THRESHOLD for so_far in running]


@given(amounts=st.lists(st.integers(1, THRESHOLD), min_size=1, max_size=10))
def test_rejected_grants_and_grants_before_the_period_do_not_count(amounts: list[int]) -> None:
    long_ago = NOW - APPROVAL_PERIOD - timedelta(seconds=1)
    not_counted = [EarlierGrant(a, long_ago, "approved") for a in amounts] + [
        EarlierGrant(a, NOW, "rejected") for a in amounts
    ]
    assert not needs_second_officer(THRESHOLD, not_counted, THRESHOLD, NOW)
    counted = [EarlierGrant(a, NOW - APPROVAL_PERIOD + timedelta(seconds=1), "pending_approval")
               for a in amounts]  # fmt: skip
    assert needs_second_officer(THRESHOLD - sum(amounts) + 1, counted, THRESHOLD, NOW)


def test_a_grant_is_dated_by_its_id_which_the_service_makes() -> None:
    before = datetime.now(UTC)
    made = recorded_at(str(uuid7()))
    assert before - timedelta(milliseconds=1) <= made <= datetime.now(UTC)


def principal(role: Role, agency: str) -> Principal:
    return Principal("c-1", role, agency, Area("11"), "t-1")


def test_a_provider_answers_only_referrals_addressed_to_its_agency() -> None:
    ctxh = "Trung tâm Công tác xã hội tỉnh Điện Biên"
    assert may_answer(principal(Role.PROVIDER, ctxh), ctxh)
    assert may_answer(principal(Role.PROVIDER, f"  {ctxh.upper()} "), ctxh)
    assert not may_answer(principal(Role.PROVIDER, "Hội Liên hiệp Phụ nữ tỉnh Điện Biên"), ctxh)
    assert not may_answer(principal(Role.PROVIDER, "Trung tâm"), ctxh)  # no prefixes
    assert may_answer(principal(Role.SUPPORT_OFFICER, "Sở Y tế Điện Biên"), ctxh)
