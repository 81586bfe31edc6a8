"""Local peers for notify, on loopback: an SMTP server that keeps what it receives, and an HTTP
server that receives webhooks and SMS-gateway calls and can answer with errors or slowly. The
demo starts them so every message an agency would get can be shown; the tests check them."""

import email
import email.policy
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from shared.redis_server import free_port


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.raw.append(content)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def __enter__(self) -> "SmtpSink":
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpSink:
    """An HTTP server on 127.0.0.1 that records every POST. ``plans[path]`` lists how to answer
    the next requests to that path: a status code, ``"hang"`` to answer after the client gave
    up, ``"html"`` for 200 with a web page (a proxy's or a login page), ``"drop"`` to close the
    connection without an answer; once a plan is used up, 200 with a message id."""

    plans: dict[str, list[int | str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    hang_s: float = 3.0

    def __post_init__(self) -> None:
        self.port = free_port()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                sink.received.append(Received(self.path, dict(self.headers.items()), body))
                plan = sink.plans.get(self.path) or []
                answer = plan.pop(0) if plan else 200
                if answer == "drop":
                    self.close_connection = True
                    return
                if answer == "hang":
                    time.sleep(sink.hang_s)
                    answer = 200
                reply = json.dumps({"message_id": f"m-{len(sink.received)}"}).encode()
                kind = "application/json"
                if answer == "html":
                    reply, kind, answer = b"<html><body>Gateway</body></html>", "text/html", 200
                try:
                    self.send_response(int(answer))
                    self.send_header("content-type", kind)
                    self.send_header("content-length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: that was the point

            def log_message(self, *_: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "HttpSink":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


def bodies(messages: Iterable[EmailMessage]) -> list[str]:
    return [str(m.get_content()) for m in messages]
