"""Time limits as Vietnamese law counts them.

- **Working days** skip weekends and public holidays (lunar Tết included) and count the
  Saturdays a government decision makes working days; the calendar is the ``holidays``
  package's, pinned to a range whose Vietnamese calendar the tests check.
- **Calendar days** are counted from the day after the start; a limit whose last day is a
  weekend or a public holiday ends on the next working day (Civil Code 2015 Art. 148(5):
  "Khi ngày cuối cùng của thời hạn là ngày nghỉ cuối tuần hoặc ngày nghỉ lễ thì thời hạn kết
  thúc tại thời điểm kết thúc ngày làm việc tiếp theo ngày nghỉ đó").
"""

from datetime import date, timedelta
from enum import StrEnum

import holidays

CALENDAR = holidays.country_holidays("VN")  # grows by the years asked about


class DayKind(StrEnum):
    CALENDAR = "calendar"
    WORKING = "working"


def is_working_day(day: date) -> bool:
    return bool(CALENDAR.is_working_day(day))


def next_working_day(day: date) -> date:
    """``day`` itself if it is a working day, else the first working day after it."""
    return CALENDAR.get_nth_working_day(day, 0)


def add_days(start: date, days: int, kind: DayKind) -> date:
    """The last day of a limit of ``days`` counted from ``start`` (the start day not counted)."""
    if kind is DayKind.WORKING:
        return CALENDAR.get_nth_working_day(start, days) if days else start
    return next_working_day(start + timedelta(days=days))
