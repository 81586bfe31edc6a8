"""Traces through every hop: a request, the events it emits (their ``traceparent``), each
publication (XADD), each consumer's handling, the database calls, outgoing HTTP (httpx) and
mail (SMTP), and notify's delivery of the event — one trace, as one tree.

Spans are exported over OTLP/HTTP to ``otel_endpoint``, or where the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` variables say (with
their headers, timeout and compression). A client call that is part of no work — a consumer
polling Redis, the relay looking for rows — starts no trace of its own: that would be a trace
per poll.
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes
from sqlalchemy.ext.asyncio import AsyncEngine
from typing_extensions import override

from shared.settings import ServiceSettings

TRACE_FIELDS = ("traceparent", "tracestate")
STANDARD_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class NoOrphanClients(Sampler):
    """Roots are sampled, except client calls (Redis, SQL, HTTP) made outside any work."""

    @override
    def should_sample(  # the SDK's signature
        self, parent_context: Context | None, trace_id: int, name: str,
        kind: SpanKind | None = None, attributes: Attributes = None,
        links: Sequence[Link] | None = None, trace_state: Any = None,
    ) -> SamplingResult:  # fmt: skip
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links)

    @override
    def get_description(self) -> str:
        return "NoOrphanClients"


def exporting(settings: ServiceSettings) -> bool:
    """Whether spans leave the process. If not, client calls are not instrumented (a span per
    SQL statement and Redis command costs time); requests and events still carry their trace
    ids, for the logs and the events' ``traceparent``."""
    return bool(settings.otel_endpoint) or any(os.environ.get(n) for n in STANDARD_ENDPOINTS)


def tracer_provider(settings: ServiceSettings, resource: Resource) -> TracerProvider:
    provider = TracerProvider(resource=resource, sampler=ParentBased(root=NoOrphanClients()))
    if exporting(settings):
        exporter = (
            OTLPSpanExporter(endpoint=f"{settings.otel_endpoint.rstrip('/')}/v1/traces")
            if settings.otel_endpoint
            else OTLPSpanExporter()  # reads every OTEL_EXPORTER_OTLP_* variable itself
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        instrument_clients(provider)
    return provider


def instrument_clients(provider: TracerProvider) -> None:
    """Spans for every Redis command and outgoing HTTP request of this process (httpx also
    sends the ``traceparent`` on: a webhook's receiver may continue the trace)."""
    for instrumentor in (HTTPXClientInstrumentor(), RedisInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()  # a test process makes several platforms
        instrumentor.instrument(tracer_provider=provider)


def instrument_database(engine: AsyncEngine, provider: TracerProvider) -> None:
    """A span per SQL statement (its text, never its parameters: they may hold personal
    data). A service has one engine; a process that makes several (a test) traces its last."""
    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    # Its declared range stops below SQLAlchemy 2.1, whose engine events it uses unchanged.
    instrumentor.instrument(engine=engine.sync_engine, tracer_provider=provider,
                            enable_commenter=False, skip_dep_check=True)  # fmt: skip


def context_of(fields: Mapping[str, Any]) -> Context:
    """The trace context an event carries (its ``traceparent`` and ``tracestate``)."""
    carrier = {name: _text(value) for name in TRACE_FIELDS if (value := fields.get(name))}
    return propagate.extract(carrier)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def published(tracer: trace.Tracer, stream: str, fields: Mapping[str, Any], *, started_ns: int,
              ended_ns: int) -> None:  # fmt: skip
    """A PRODUCER span for an event's XADD, in the trace of the work that emitted it (the
    relay publishes a batch later, in one pipeline: each event gets the pipeline's time)."""
    span = tracer.start_span(
        f"{stream} publish", context=context_of(fields), kind=SpanKind.PRODUCER,
        start_time=started_ns,
        attributes={"messaging.system": "redis", "messaging.destination.name": stream,
                    "messaging.operation.type": "send",
                    "messaging.message.id": _text(fields.get("id", "")),
                    "cloudevents.event_type": _text(fields.get("type", ""))},
    )  # fmt: skip
    span.end(end_time=ended_ns)
