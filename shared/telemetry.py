"""OpenTelemetry wiring per service: a tracer provider, a meter provider exported to Prometheus
(``/metrics``), and the platform's own instruments. Labels carry names and codes, never PII.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from shared.settings import ServiceSettings

INSTRUMENTATION = "safereturn"
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Histogram buckets for work that takes milliseconds to seconds (the SDK's default buckets,
0, 5, 10, 25 … 10,000, put nearly every batch in the first)."""


def current_trace_id() -> str | None:
    """The trace id of the current span, as 32 hex digits, if there is one."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


@dataclass
class Metrics:
    """The platform's instruments; gauges read the last values the maintenance loop saw."""

    meter_provider: MeterProvider
    _pending: dict[tuple[str, str], int] = field(default_factory=dict)
    _lag: dict[tuple[str, str], int] = field(default_factory=dict)
    _outbox_backlog: int = 0

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
        self._batch = meter.create_histogram(
            "safereturn_consume_batch_duration",
            unit="s",
            description="Time to apply a batch",
            explicit_bucket_boundaries_advisory=SECONDS,
        )
        meter.create_observable_gauge(
            "safereturn_consumer_pending",
            callbacks=[self._observe(self._pending)],
            unit="{entry}",
            description="Entries delivered to the group and not yet acknowledged",
        )
        meter.create_observable_gauge(
            "safereturn_consumer_lag",
            callbacks=[self._observe(self._lag)],
            unit="{entry}",
            description="Entries not yet delivered to the group (Redis 7 and later)",
        )
        meter.create_observable_gauge(
            "safereturn_outbox_backlog",
            callbacks=[lambda _: [Observation(self._outbox_backlog)]],
            unit="{event}",
            description="Committed events not yet published",
        )

    @staticmethod
    def _observe(
        values: dict[tuple[str, str], int],
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(_: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(value, {"stream": stream, "group": group})
                for (stream, group), value in values.items()
            ]

        return callback

    def consumed(self, stream: str, group: str, outcome: str) -> None:
        self._consumed.add(1, {"stream": stream, "group": group, "outcome": outcome})

    def published(self, stream: str, count: int) -> None:
        self._published.add(count, {"stream": stream})

    def trimmed(self, stream: str, count: int) -> None:
        self._trimmed.add(count, {"stream": stream})

    def batch_seconds(self, stream: str, group: str, seconds: float) -> None:
        self._batch.record(seconds, {"stream": stream, "group": group})

    def observe_group(self, stream: str, group: str, *, pending: int, lag: int | None) -> None:
        self._pending[(stream, group)] = pending
        if lag is not None:
            self._lag[(stream, group)] = lag

    def observe_outbox(self, backlog: int) -> None:
        self._outbox_backlog = backlog


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
    tracer_provider = TracerProvider(resource=resource)
    if settings.otel_endpoint:
        exporter = OTLPSpanExporter(endpoint=f"{settings.otel_endpoint.rstrip('/')}/v1/traces")
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    meter_provider = MeterProvider(resource=resource, metric_readers=[PrometheusMetricReader()])
    return Telemetry(tracer_provider, meter_provider, Metrics(meter_provider))
