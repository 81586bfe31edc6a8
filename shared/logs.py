"""Each service's logs: JSON lines by default — time, level, service, logger, message, and the
trace and span ids of the work they are about, with the event's id and type when that work is
handling an event — or, by ``log_format=text``, lines for a person at a terminal.

Messages never carry personal data (names, ID numbers, phones, addresses): they name cases,
events and deliveries by id, and errors by kind. ``tests/e2e/test_demo.py`` reads every log
of a demo run for the names, ID numbers and phones the demo reported.
"""

import logging
import sys
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from shared.settings import ServiceSettings

FIELDS = ("levelname", "service", "name", "message", "trace_id", "span_id", "event_id",
          "event_type")  # fmt: skip
RENAMED = {"levelname": "level", "name": "logger"}
EVENT_ATTRIBUTES = {"event_id": "messaging.message.id", "event_type": "cloudevents.event_type"}
OWN_HANDLERS = ("faststream", "uvicorn", "uvicorn.error", "uvicorn.access")
"""Loggers that libraries give handlers of their own: theirs go through ours instead (the
broker is given a logger of ours, ``shared.runtime``)."""


class Context(logging.Filter):
    """Adds the service, and the current span's trace, span, event id and type, to a record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        span = trace.get_current_span()
        context = span.get_span_context()
        found: dict[str, Any] = dict.fromkeys(("trace_id", "span_id", *EVENT_ATTRIBUTES))
        if context.is_valid:
            found["trace_id"] = format(context.trace_id, "032x")
            found["span_id"] = format(context.span_id, "016x")
            attributes = getattr(span, "attributes", None) or {}
            for field, attribute in EVENT_ATTRIBUTES.items():
                found[field] = attributes.get(attribute)
        for field, value in found.items():
            if not hasattr(record, field):  # a caller's own ``extra`` wins
                setattr(record, field, value)
        return True


class Text(logging.Formatter):
    """``time service LEVEL logger: message [event … trace …]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(service)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        about = [f"{name}={value}" for name in ("event_type", "event_id", "trace_id")
                 if (value := getattr(record, name, None))]  # fmt: skip
        return super().format(record) + (f" [{' '.join(about)}]" if about else "")


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "text":
        return Text()
    # "time": ISO 8601 in UTC; fields a caller passes in ``extra`` are added as they are
    return JsonFormatter(
        list(FIELDS),
        rename_fields=RENAMED,
        timestamp="time",
        json_ensure_ascii=False,
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],
    )  # uvicorn's ANSI


def configure(settings: ServiceSettings) -> None:
    """Every record of the process, libraries' included, through one handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(Context(settings.service_name))
    handler.setFormatter(formatter(settings.log_format))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    logging.captureWarnings(True)  # a library's warning is a line like any other
    for name in OWN_HANDLERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
