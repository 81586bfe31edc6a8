"""OpenTelemetry wiring per service: a tracer provider, a meter provider exported to Prometheus
(``/metrics``), and the platform's own instruments. Labels carry names and codes, never PII.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from shared import tracing
from shared.settings import ServiceSettings

INSTRUMENTATION = "safereturn"
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Histogram buckets for work that takes milliseconds to seconds (the SDK's default buckets,
0, 5, 10, 25 … 10,000, put nearly every batch in the first)."""


def current_trace_id() -> str | None:
    """The trace id of the current span, as 32 hex digits, if there is one."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


GROUP_GAUGES = (
    ("pending", "{entry}", "Entries delivered to the group and not yet acknowledged"),
    ("lag", "{entry}", "Entries not yet delivered to the group (Redis 7 and later)"),
    ("consumers", "{consumer}", "Consumers the group has (0: nothing reads the stream for it)"),
    ("oldest_pending_age", "s", "Age of the group's oldest unacknowledged entry (0: none)"),
)
"""Figures of a consumer group: ``safereturn_consumer_<name>``, labelled stream and group."""

STREAM_GAUGES = (
    ("length", "{entry}", "Entries the stream holds"),
    ("dead_letters", "{entry}", "Entries in the stream's dead letters, waiting for an operator"),
)
"""Figures of a stream: ``safereturn_stream_<name>``, labelled stream."""


Group = tuple[str, str]  # (stream, group)


@dataclass
class Metrics:
    """The platform's instruments. Gauges read the last values the maintenance loop saw; a
    stream's and a group's figures are observed by one replica at a time
    (``shared.figures``), and forgotten by the others."""

    meter_provider: MeterProvider
    _groups: dict[str, dict[Group, float]] = field(default_factory=dict)
    _streams: dict[str, dict[str, float]] = field(default_factory=dict)
    _outbox: dict[str, float] = field(default_factory=lambda: {"backlog": 0, "age": 0.0})
    _redis: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        meter = self.meter_provider.get_meter(INSTRUMENTATION)
        self._consumed = meter.create_counter(
            "safereturn_events_consumed", unit="{event}", description="Entries handled, by outcome"
        )
        self._published = meter.create_counter(
            "safereturn_events_published", unit="{event}", description="Outbox rows published"
        )
        self._trimmed = meter.create_counter(
            "safereturn_stream_entries_trimmed",
            unit="{entry}",
            description="Entries removed from a stream by retention",
        )
        self._audits = meter.create_counter(
            "safereturn_audit_appends", unit="{record}", description="Audit records appended"
        )
        self._tokens = meter.create_counter(
            "safereturn_token_requests",
            unit="{request}",
            description="Token endpoint answers, by outcome (success, failed_login, "
            "rate_limited, invalid_request, unsupported_grant_type)",
        )
        self._jwks_failures = meter.create_counter(
            "safereturn_jwks_refresh_failures",
            unit="{failure}",
            description="Fetches of intake's token signing keys that failed (the keys held are "
            "kept meanwhile)",
        )
        self._jwks_failures.add(0)  # exported from the start: an alert's rate needs a series
        self._batch = meter.create_histogram(
            "safereturn_consume_batch_duration",
            unit="s",
            description="Time to apply a batch",
            explicit_bucket_boundaries_advisory=SECONDS,
        )
        for name, unit, description in GROUP_GAUGES:
            values = self._groups.setdefault(name, {})
            meter.create_observable_gauge(f"safereturn_consumer_{name}", [self._observe(values)],
                                          unit, description)  # fmt: skip
        for name, unit, description in STREAM_GAUGES:
            by_stream = self._streams.setdefault(name, {})
            meter.create_observable_gauge(f"safereturn_stream_{name}", [self._by_stream(by_stream)],
                                          unit, description)  # fmt: skip
        meter.create_observable_gauge(
            "safereturn_outbox_backlog",
            callbacks=[lambda _: [Observation(self._outbox["backlog"])]],
            unit="{event}",
            description="Committed events not yet published",
        )
        for name, description in (("used", "Memory Redis uses"),
                                  ("limit", "Redis's maxmemory (0: no limit)")):  # fmt: skip
            meter.create_observable_gauge(
                f"safereturn_redis_memory_{name}", [self._observe_redis(name)], "By", description
            )
        meter.create_observable_gauge(
            "safereturn_outbox_oldest_age",
            callbacks=[lambda _: [Observation(self._outbox["age"])]],
            unit="s",
            description="How long the oldest event not yet published has waited (0: none)",
        )

    @staticmethod
    def _observe(values: dict[Group, float]) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(_: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(value, {"stream": stream, "group": group})
                for (stream, group), value in values.items()
            ]

        return callback

    @staticmethod
    def _by_stream(values: dict[str, float]) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(_: CallbackOptions) -> Iterable[Observation]:
            return [Observation(value, {"stream": stream}) for stream, value in values.items()]

        return callback

    def _observe_redis(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(_: CallbackOptions) -> Iterable[Observation]:
            return [Observation(self._redis[name])] if name in self._redis else []

        return callback

    def consumed(self, stream: str, group: str, outcome: str) -> None:
        self._consumed.add(1, {"stream": stream, "group": group, "outcome": outcome})

    def published(self, stream: str, count: int) -> None:
        self._published.add(count, {"stream": stream})

    def trimmed(self, stream: str, count: int) -> None:
        self._trimmed.add(count, {"stream": stream})

    def audited(self, records: int = 1) -> None:
        self._audits.add(records)

    def token_answered(self, outcome: str) -> None:
        self._tokens.add(1, {"outcome": outcome})

    def jwks_refresh_failed(self) -> None:
        self._jwks_failures.add(1)

    def batch_seconds(self, stream: str, group: str, seconds: float) -> None:
        self._batch.record(seconds, {"stream": stream, "group": group})

    def observe_group(self, stream: str, group: str, *, pending: int, lag: int | None,
                      consumers: int, oldest_pending_s: float) -> None:  # fmt: skip
        figures = {"pending": pending, "lag": lag, "consumers": consumers,
                   "oldest_pending_age": oldest_pending_s}  # fmt: skip
        for name, value in figures.items():
            if value is not None:  # lag: Redis 7 and later
                self._groups[name][stream, group] = value

    def forget_group(self, stream: str, group: str) -> None:
        for values in self._groups.values():
            values.pop((stream, group), None)

    def observe_stream(self, stream: str, *, length: int, dead_letters: int) -> None:
        self._streams["length"][stream] = length
        self._streams["dead_letters"][stream] = dead_letters

    def forget_stream(self, stream: str) -> None:
        for values in self._streams.values():
            values.pop(stream, None)

    def observe_redis(self, *, used: int | None, limit: int | None) -> None:
        """Redis's memory in bytes; ``None``: another process exports it."""
        self._redis = {} if used is None or limit is None else {"used": used, "limit": limit}

    def observe_outbox(self, backlog: int, oldest_age_s: float) -> None:
        self._outbox.update(backlog=backlog, age=oldest_age_s)


@dataclass(frozen=True)
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    metrics: Metrics

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def setup_telemetry(settings: ServiceSettings, instance: str) -> Telemetry:
    """Providers for one service process. Metrics go to the process's Prometheus registry."""
    resource = Resource.create(
        {"service.name": f"safereturn-{settings.service_name}", "service.instance.id": instance}
    )
    tracer_provider = tracing.tracer_provider(settings, resource)
    meter_provider = MeterProvider(resource=resource, metric_readers=[PrometheusMetricReader()])
    return Telemetry(tracer_provider, meter_provider, Metrics(meter_provider))
