"""A service's log lines: JSON with the fields a collector indexes, the trace and span of the
work they are about, and the event's id and type while an event is handled; text by setting."""

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from shared.logs import Context, formatter


@pytest.fixture
def tracer() -> Iterator[Tracer]:
    provider = TracerProvider()
    yield provider.get_tracer("test")
    provider.shutdown()


def logged(log_format: str, emit: Callable[[logging.Logger], None]) -> str:
    """What one record, made by calling ``emit(logger)``, reads as."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(Context("stats"))
    handler.setFormatter(formatter(log_format))
    logger = logging.getLogger(f"test.logs.{log_format}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return out.getvalue().strip()


def test_a_line_outside_any_work_has_every_field() -> None:
    line = json.loads(logged("json", lambda log: log.warning("maintenance: %d groups", 3)))
    assert line["message"] == "maintenance: 3 groups"
    assert (line["level"], line["service"]) == ("WARNING", "stats")
    assert line["logger"] == "test.logs.json"
    assert line["time"].endswith("+00:00")  # ISO 8601, UTC
    assert (line["trace_id"], line["span_id"], line["event_id"]) == (None, None, None)


def test_a_line_about_an_event_carries_its_trace_and_the_event(tracer: Tracer) -> None:
    attributes = {"messaging.message.id": "0193-e1", "cloudevents.event_type": "case.received"}
    with tracer.start_as_current_span("case.received process", attributes=attributes) as span:
        text = logged("json", lambda log: log.info("applied"))
        human = logged("text", lambda log: log.info("applied"))
    context = span.get_span_context()
    line = json.loads(text)
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert (line["event_id"], line["event_type"]) == ("0193-e1", "case.received")
    assert human.endswith(
        f"stats INFO test.logs.text: applied [event_type=case.received event_id=0193-e1 "
        f"trace_id={line['trace_id']}]"
    )
