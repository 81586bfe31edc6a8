"""An OTLP/HTTP trace receiver on loopback: what a collector gets from the services."""

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from shared.redis_server import free_port


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...] = ()
    """(trace id, span id) of each span it is linked to."""


class OtlpSink:
    """Collects every span exported to ``url`` (``/v1/traces``, protobuf)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        sink = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                sink.received(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Receive)
        self.lock = threading.Lock()

    def received(self, request: ExportTraceServiceRequest) -> None:
        for resource in request.resource_spans:
            names = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                with self.lock:
                    self.spans += [
                        Span(names.get("service.name", ""), span.name, span.kind,
                             span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(),
                             {a.key: _value(a.value) for a in span.attributes},
                             tuple((link.trace_id.hex(), link.span_id.hex())
                                   for link in span.links))
                        for span in scope.spans
                    ]  # fmt: skip

    def of_trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def linked_to(self, trace_id: str) -> list[Span]:
        """The spans of other traces linked to one of ``trace_id`` (batches that carried it)."""
        with self.lock:
            return [span for span in self.spans if any(t == trace_id for t, _ in span.links)]

    def __enter__(self) -> "OtlpSink":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
