"""Notify's delivery metrics: every attempt counted once, by channel and how it ended, every
delivery counted once when it ends, deliveries put off without an attempt, how long a sent
one took from being queued, the queue by status and channel (from one replica at a time: the
replicas share the queue), and the endpoints whose circuit breaker is open. Labels are
channels and codes, never recipients or addresses."""

from collections import Counter
from collections.abc import Callable
from typing import ClassVar
from weakref import WeakKeyDictionary

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.metrics import Counter as Instrument

from shared.runtime import Platform

LATENCY_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
             86400.0)  # fmt: skip
"""Buckets from a tenth of a second (mail on loopback) to a day (retries over an outage)."""
CHANNELS = ("email", "sms", "webhook")
QUEUED = ("pending", "retrying", "sending", "failed", "missed")
"""The statuses of deliveries not sent."""
ATTEMPT_OUTCOMES = ("sent", "failed", "expired")
PUT_OFF = ("rate_limited", "rate_limit_unavailable", "paused", "circuit_open")
"""Why a delivery was put off without an attempt."""


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
            description="Deliveries that ended, by channel and status (sent, failed, missed: "
            "its subscription was disabled)",
        )
        self.deferred: Instrument = meter.create_counter(
            "safereturn_notify_deferred",
            unit="{delivery}",
            description="Deliveries put off without an attempt (endpoint rate, paused, an open "
            "circuit)",
        )
        self.latency = meter.create_histogram(
            "safereturn_notify_delivery_latency",
            unit="s",
            description="From a delivery being queued to its message accepted, by channel",
            explicit_bucket_boundaries_advisory=LATENCY_S,
        )
        for channel in CHANNELS:  # every series exported from the start, at zero
            for outcome in ATTEMPT_OUTCOMES:
                self.attempts.add(0, {"channel": channel, "outcome": outcome})
            for status in ("sent", "failed", "missed"):
                self.ended.add(0, {"channel": channel, "status": status})
            for reason in PUT_OFF:
                self.deferred.add(0, {"channel": channel, "reason": reason})
        self.queue: dict[tuple[str, str], int] = {}
        meter.create_observable_gauge(
            "safereturn_notify_queue",
            callbacks=[self._observe_queue],
            unit="{delivery}",
            description="Deliveries not sent, by status (pending, retrying, sending, failed, "
            "missed) and channel",
        )

        self.breakers: list[Callable[[], Counter[str]]] = []
        meter.create_observable_gauge(
            "safereturn_notify_breakers_open",
            callbacks=[self._observe_breakers],
            unit="{endpoint}",
            description="Endpoints whose circuit breaker is open (left alone) or half open "
            "(one trial let through), by channel",
        )

    def _observe_breakers(self, _: CallbackOptions) -> list[Observation]:
        found = Counter({channel: 0 for channel in CHANNELS})
        for open_now in self.breakers:
            found.update(open_now())
        return [Observation(n, {"channel": channel}) for channel, n in sorted(found.items())]

    def _observe_queue(self, _: CallbackOptions) -> list[Observation]:
        return [Observation(n, {"status": status, "channel": channel})
                for (status, channel), n in sorted(self.queue.items())]  # fmt: skip

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

    def watch_breakers(self, open_now: Callable[[], Counter[str]]) -> None:
        """Export the worker's open breakers by channel (``open_now`` is asked at each scrape)."""
        self._instruments.breakers.append(open_now)

    def attempted(self, channel: str, outcome: str) -> None:
        self.attempts[(channel, outcome)] += 1
        self._instruments.attempts.add(1, {"channel": channel, "outcome": outcome})

    def finished(self, channel: str, status: str, count: int = 1) -> None:
        self.ended[(channel, status)] += count
        self._instruments.ended.add(count, {"channel": channel, "status": status})

    def sent(self, channel: str, seconds: float) -> None:
        self._instruments.latency.record(seconds, {"channel": channel})

    def put_off(self, channel: str, reason: str) -> None:
        self.deferred[(channel, reason)] += 1
        self._instruments.deferred.add(1, {"channel": channel, "reason": reason})


def observe_queue(platform: Platform, counts: dict[tuple[str, str], int] | None) -> None:
    """The queue by (status, channel) as last counted, zero where none is; ``None``: another
    replica exports it."""
    if counts is None:
        _Instruments.of(platform).queue = {}
        return
    none = {(status, channel): 0 for status in QUEUED for channel in CHANNELS}
    _Instruments.of(platform).queue = none | counts
