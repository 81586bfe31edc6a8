"""Support's application gauges: undecided applications and those past their legal limit, by
the stage they wait at. Labels are stage codes, never cases or people."""

from collections import Counter
from datetime import date
from typing import ClassVar
from weakref import WeakKeyDictionary

from opentelemetry.metrics import CallbackOptions, Observation

from services.support.applications import overdue
from shared.runtime import Platform


class ApplicationMetrics:
    _of: ClassVar[WeakKeyDictionary[Platform, "ApplicationMetrics"]] = WeakKeyDictionary()

    def __init__(self, platform: Platform) -> None:
        meter = platform.telemetry.meter_provider.get_meter("safereturn.support")
        self.open: Counter[str] = Counter()
        self.late: Counter[str] = Counter()
        meter.create_observable_gauge(
            "safereturn_support_open_applications",
            callbacks=[lambda options: self._by_stage(self.open, options)],
            unit="{application}",
            description="Applications for support not decided yet, by the stage they wait at",
        )
        meter.create_observable_gauge(
            "safereturn_support_overdue_applications",
            callbacks=[lambda options: self._by_stage(self.late, options)],
            unit="{application}",
            description="Applications for support whose current stage is past its legal limit",
        )

    @classmethod
    def of(cls, platform: Platform) -> "ApplicationMetrics":
        if platform not in cls._of:
            cls._of[platform] = cls(platform)
        return cls._of[platform]

    @staticmethod
    def _by_stage(counts: Counter[str], _: CallbackOptions) -> list[Observation]:
        if not counts:
            return [Observation(0)]  # exported from the start, not only once one is late
        return [Observation(n, {"stage": stage}) for stage, n in sorted(counts.items())]

    def observe(self, current: list[tuple[str, date]], today: date) -> None:
        self.open = Counter(stage for stage, _ in current)
        self.late = Counter(stage for stage, due in current if overdue(due, today))
