"""Notify's delivery metrics: every attempt counted once, by channel and how it ended, every
delivery counted once when it ends, and deliveries put off without an attempt. Labels are
channels and codes, never recipients or addresses."""

from collections import Counter
from typing import ClassVar
from weakref import WeakKeyDictionary

from opentelemetry.metrics import Counter as Instrument

from shared.runtime import Platform


class _Instruments:
    _of: ClassVar[WeakKeyDictionary[Platform, "_Instruments"]] = WeakKeyDictionary()

    def __init__(self, platform: Platform) -> None:
        meter = platform.telemetry.meter_provider.get_meter("safereturn.notify")
        self.attempts: Instrument = meter.create_counter(
            "safereturn_notify_attempts",
            unit="{attempt}",
            description="Delivery attempts by channel and outcome: sent, failed, or expired "
            "(its replica crashed or stalled past the lease; counted by the one taking over)",
        )
        self.ended: Instrument = meter.create_counter(
            "safereturn_notify_deliveries_ended",
            unit="{delivery}",
            description="Deliveries that ended, by channel and status (sent, failed)",
        )
        self.deferred: Instrument = meter.create_counter(
            "safereturn_notify_deferred",
            unit="{delivery}",
            description="Deliveries put off without an attempt (endpoint rate, paused)",
        )

    @classmethod
    def of(cls, platform: Platform) -> "_Instruments":
        if platform not in cls._of:
            cls._of[platform] = cls(platform)
        return cls._of[platform]


class DeliveryMetrics:
    """One worker's counts, also kept here so they can be read back."""

    def __init__(self, platform: Platform) -> None:
        self._instruments = _Instruments.of(platform)
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.ended: Counter[tuple[str, str]] = Counter()
        self.deferred: Counter[tuple[str, str]] = Counter()

    def attempted(self, channel: str, outcome: str) -> None:
        self.attempts[(channel, outcome)] += 1
        self._instruments.attempts.add(1, {"channel": channel, "outcome": outcome})

    def finished(self, channel: str, status: str) -> None:
        self.ended[(channel, status)] += 1
        self._instruments.ended.add(1, {"channel": channel, "status": status})

    def put_off(self, channel: str, reason: str) -> None:
        self.deferred[(channel, reason)] += 1
        self._instruments.deferred.add(1, {"channel": channel, "reason": reason})
