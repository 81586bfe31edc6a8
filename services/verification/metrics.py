"""Verification's business metrics: open tasks by age band and province, overdue tasks by
province, and how many days reception to decision takes. Labels are bands and province codes
(34 of them), never cases or people."""

from collections import Counter
from datetime import date
from typing import ClassVar
from weakref import WeakKeyDictionary

from opentelemetry.metrics import CallbackOptions, Observation

from shared.runtime import Platform

AGE_BANDS = ((7, "0-7d"), (14, "8-14d"), (30, "15-30d"))
OLDER = "over-30d"


def age_band(received_on: date, today: date) -> str:
    age = (today - received_on).days
    return next((band for limit, band in AGE_BANDS if age <= limit), OLDER)


DAYS = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 180.0)


class TaskMetrics:
    _of: ClassVar[WeakKeyDictionary[Platform, "TaskMetrics"]] = WeakKeyDictionary()

    def __init__(self, platform: Platform) -> None:
        meter = platform.telemetry.meter_provider.get_meter("safereturn.verification")
        self.open: Counter[tuple[str, str]] = Counter()
        self.overdue: Counter[str] = Counter()
        meter.create_observable_gauge(
            "safereturn_verification_open_tasks",
            callbacks=[self._observe_open],
            unit="{task}",
            description="Open verification tasks by time since reception and province",
        )
        meter.create_observable_gauge(
            "safereturn_verification_overdue_tasks",
            callbacks=[self._observe_overdue],
            unit="{task}",
            description="Verification tasks past their legal due date, by province",
        )
        self._decision_days = meter.create_histogram(
            "safereturn_verification_decision_time",  # exported with its unit: …_time_days
            unit="d",
            description="Days from reception to the first identification decision",
            explicit_bucket_boundaries_advisory=DAYS,
        )

    @classmethod
    def of(cls, platform: Platform) -> "TaskMetrics":
        if platform not in cls._of:
            cls._of[platform] = cls(platform)
        return cls._of[platform]

    def _observe_open(self, _: CallbackOptions) -> list[Observation]:
        return [Observation(n, {"age": band, "province": province})
                for (band, province), n in sorted(self.open.items())]  # fmt: skip

    def _observe_overdue(self, _: CallbackOptions) -> list[Observation]:
        if not self.overdue:
            return [Observation(0)]  # exported from the start, not only once one is late
        return [Observation(n, {"province": p}) for p, n in sorted(self.overdue.items())]

    def observe(self, unfinished: list[tuple[date, str, str]], today: date) -> None:
        """From every unfinished task's reception date, status and province."""
        self.open = Counter((age_band(day, today), province) for day, _, province in unfinished)
        self.overdue = Counter(province for _, status, province in unfinished
                               if status == "overdue")  # fmt: skip

    def decided(self, received_on: date, decided_on: date) -> None:
        self._decision_days.record((decided_on - received_on).days)
