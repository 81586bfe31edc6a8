"""Time limits as the law counts them: working days by the Vietnamese calendar (Tết, holidays
and the Saturdays made working days), calendar days rolled past a closing weekend or holiday."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.legal_time import DayKind, add_days, is_working_day

DATES = st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31))


def test_working_days_skip_weekends() -> None:
    assert add_days(date(2026, 11, 6), 3, DayKind.WORKING) == date(2026, 11, 11)  # Fri → Wed


def test_working_days_skip_tet() -> None:
    # Friday 24 January 2025; Tết holidays run 27 January to 1 February.
    assert add_days(date(2025, 1, 24), 3, DayKind.WORKING) == date(2025, 2, 5)
    assert not is_working_day(date(2026, 2, 17))  # Lunar New Year 2026


def test_a_saturday_made_a_working_day_by_government_decision_counts() -> None:
    """Saturday 2025-04-26 was worked so that 2 May could be a day off (Decision of the Prime
    Minister on the 30 April to 1 May 2025 break): five working days from Wednesday 23 April
    end on Tuesday 29 April, not on Monday 5 May."""
    assert is_working_day(date(2025, 4, 26))
    assert add_days(date(2025, 4, 23), 5, DayKind.WORKING) == date(2025, 4, 29)


def test_civil_code_art_148_a_calendar_limit_ending_on_tet_rolls_to_the_next_working_day() -> None:
    # 20 days from 10 January 2025 end on 30 January, in Tết; the next working day is Monday
    # 3 February (Saturday 1 February is still Tết, Sunday 2 February a weekend).
    assert add_days(date(2025, 1, 10), 20, DayKind.CALENDAR) == date(2025, 2, 3)


def test_civil_code_art_148_a_calendar_limit_ending_on_a_weekend_rolls_to_monday() -> None:
    assert add_days(date(2026, 11, 11), 3, DayKind.CALENDAR) == date(2026, 11, 16)  # Sat → Mon


@given(DATES, st.integers(1, 40))
def test_working_days_land_on_a_working_day_after_the_start(start: date, days: int) -> None:
    end = add_days(start, days, DayKind.WORKING)
    assert end > start
    assert is_working_day(end)
    between = [start + timedelta(days=n) for n in range(1, (end - start).days + 1)]
    assert sum(map(is_working_day, between)) == days


@given(DATES, st.integers(1, 60))
def test_a_calendar_limit_ends_on_the_first_working_day_from_its_last_day(
    start: date, days: int
) -> None:
    last = start + timedelta(days=days)
    end = add_days(start, days, DayKind.CALENDAR)
    assert is_working_day(end)
    assert all(not is_working_day(last + timedelta(days=n)) for n in range((end - last).days))
