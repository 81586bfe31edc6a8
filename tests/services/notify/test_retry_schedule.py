"""Webhooks retry on a schedule spanning about a day (Standard Webhooks, as Svix): one attempt
more than the schedule has waits, each wait moved by bounded jitter, the default lasting over
24 hours however the jitter falls; mail and SMS keep their exponential backoff; the schedule is
a setting, given as comma-separated seconds."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.notify.domain import (
    WEBHOOK_RETRY_SCHEDULE_S,
    Retries,
    backoff_s,
    schedule_span_s,
    scheduled_attempts,
    scheduled_wait_s,
)
from services.notify.settings import NotifySettings

DAY_S = 86400.0
waits = st.floats(0.001, 2 * DAY_S, allow_nan=False, allow_infinity=False)
schedules = st.lists(waits, max_size=20)
spreads = st.floats(0.0, 0.5, allow_nan=False)
jitters = st.floats(0.0, 1.0, allow_nan=False)


def test_the_default_is_standard_webhooks_schedule() -> None:
    minutes = [wait / 60 for wait in WEBHOOK_RETRY_SCHEDULE_S]
    assert minutes == [5 / 60, 5, 30, 120, 300, 600, 600]
    assert scheduled_attempts(WEBHOOK_RETRY_SCHEDULE_S) == 8
    assert sum(WEBHOOK_RETRY_SCHEDULE_S) == 27.5 * 3600 + 305


@settings(max_examples=300, deadline=None)
@given(draws=st.lists(jitters, min_size=7, max_size=7))
@example(draws=[0.0] * 7)
@example(draws=[1.0] * 7)
def test_the_default_spans_more_than_a_day_however_the_jitter_falls(draws: list[float]) -> None:
    """Even with every wait as short as the jitter allows, the last attempt comes more than 24
    hours after the first (an outage of a night and a day is covered), and at most 10 % later
    than planned."""
    waited = [scheduled_wait_s(n, WEBHOOK_RETRY_SCHEDULE_S, 0.1, draw)
              for n, draw in enumerate(draws, start=1)]  # fmt: skip
    total = sum(wait for wait in waited if wait is not None)
    assert len([wait for wait in waited if wait is not None]) == 7
    assert DAY_S <= total <= 1.1 * sum(WEBHOOK_RETRY_SCHEDULE_S) + 1e-6
    assert schedule_span_s(WEBHOOK_RETRY_SCHEDULE_S, 0.1)[0] >= DAY_S


@settings(max_examples=500, deadline=None)
@given(schedule=schedules, spread=spreads, jitter=jitters)
def test_there_is_one_attempt_more_than_waits_and_none_after_the_last(
    schedule: list[float], spread: float, jitter: float
) -> None:
    attempts = scheduled_attempts(schedule)
    assert attempts == len(schedule) + 1
    for attempt in range(1, attempts):
        assert scheduled_wait_s(attempt, schedule, spread, jitter) is not None
    assert scheduled_wait_s(attempts, schedule, spread, jitter) is None
    assert scheduled_wait_s(0, schedule, spread, jitter) is None


@settings(max_examples=500, deadline=None)
@given(schedule=st.lists(waits, min_size=1, max_size=20), spread=spreads, jitter=jitters,
       data=st.data())  # fmt: skip
def test_a_wait_stays_within_its_jitter_and_the_span_bounds_the_total(
    schedule: list[float], spread: float, jitter: float, data: st.DataObject
) -> None:
    attempt = data.draw(st.integers(1, len(schedule)))
    wait = scheduled_wait_s(attempt, schedule, spread, jitter)
    assert wait is not None
    planned = schedule[attempt - 1]
    assert planned * (1 - spread) - 1e-9 <= wait <= planned * (1 + spread) + 1e-9
    assert scheduled_wait_s(attempt, schedule, spread, 0.5) == pytest.approx(planned)
    shortest, longest = schedule_span_s(schedule, spread)
    total = sum(
        scheduled_wait_s(n, schedule, spread, jitter) or 0 for n in range(1, len(schedule) + 1)
    )
    assert shortest - 1e-6 <= total <= longest + 1e-6


@settings(max_examples=300, deadline=None)
@given(schedule=st.lists(waits, min_size=2, max_size=20), spread=spreads, jitter=jitters)
def test_a_rising_schedule_never_waits_less_later_for_the_same_jitter(
    schedule: list[float], spread: float, jitter: float
) -> None:
    rising = sorted(schedule)
    waited = [scheduled_wait_s(n, rising, spread, jitter) for n in range(1, len(rising) + 1)]
    assert None not in waited
    assert waited == sorted(waited, key=lambda wait: wait or 0.0)


def test_the_default_schedule_rises() -> None:
    assert list(WEBHOOK_RETRY_SCHEDULE_S) == sorted(WEBHOOK_RETRY_SCHEDULE_S)


@settings(max_examples=300, deadline=None)
@given(attempt=st.integers(1, 30), jitter=jitters)
def test_mail_and_sms_keep_their_backoff_and_webhooks_their_schedule(
    attempt: int, jitter: float
) -> None:
    retries = Retries(max_attempts=6, base_s=2.0, cap_s=600.0)
    for channel in ("email", "sms"):
        assert retries.attempts(channel) == 6
        expected = backoff_s(attempt, 2.0, 600.0, jitter) if attempt < 6 else None
        assert retries.wait_s(channel, attempt, jitter) == expected
    assert retries.attempts("webhook") == 8
    assert retries.wait_s("webhook", attempt, jitter) == scheduled_wait_s(
        attempt, WEBHOOK_RETRY_SCHEDULE_S, 0.1, jitter
    )


def test_the_schedule_is_a_setting_of_comma_separated_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAFERETURN_NOTIFY_WEBHOOK_RETRY_SCHEDULE_S", "0.2, 0.5,1")
    assert NotifySettings(embedded=True).webhook_retry_schedule_s == [0.2, 0.5, 1.0]
    monkeypatch.delenv("SAFERETURN_NOTIFY_WEBHOOK_RETRY_SCHEDULE_S")
    assert NotifySettings(embedded=True).webhook_retry_schedule_s == list(WEBHOOK_RETRY_SCHEDULE_S)


@pytest.mark.parametrize("text", ["5,-1", "5,0", "five"])
def test_a_schedule_with_a_wait_not_above_zero_is_refused(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFERETURN_NOTIFY_WEBHOOK_RETRY_SCHEDULE_S", text)
    with pytest.raises(ValueError, match="webhook_retry_schedule_s"):
        NotifySettings(embedded=True)
