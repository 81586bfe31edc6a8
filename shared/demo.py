"""The scenario ``safereturn demo`` plays on a running platform, told step by step.

Until the domain services land it proves the plumbing: an HTTP request to intake becomes an
event (outbox → stream), every other service consumes it in its own process, the publishing
services answer on the bus, intake records the answers, and the trace id started by the
HTTP request is the one every service saw.
"""

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import redis

from shared.events.envelope import from_fields
from shared.events.platform import ProbeRequested
from shared.names import Service, Stream
from shared.streams import entries

Say = Callable[[str], None]


class ScenarioError(RuntimeError):
    """A step of the scenario did not happen; the message says which."""


def new_traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def _poll(fetch: Callable[[], dict[str, Any] | None], timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def probe(urls: Mapping[str, str], say: Say, *, timeout: float = 30.0) -> dict[str, Any]:
    """Send a probe through intake and wait until every service has seen it."""
    trace_id, traceparent = new_traceparent()
    with httpx.Client(timeout=5.0) as client:
        started = time.perf_counter()
        response = client.post(
            f"{urls[Service.INTAKE]}/v1/diagnostics/probes", headers={"traceparent": traceparent}
        )
        response.raise_for_status()
        probe_id = response.json()["probe_id"]
        say(f"intake accepted probe {probe_id} (trace {trace_id})")

        def answered() -> dict[str, Any] | None:
            body: dict[str, Any] = client.get(
                f"{urls[Service.INTAKE]}/v1/diagnostics/probes/{probe_id}"
            ).json()
            return body if body["complete"] else None

        result = _poll(answered, timeout)
        if result is None:
            raise ScenarioError(f"probe {probe_id} not answered by every service in {timeout}s")
        for answer in result["answers"]:
            same = "same trace" if answer["trace_id"] == trace_id else "OTHER TRACE"
            say(
                f"  {answer['service']:<13} received it after {answer['seconds'] * 1000:7.1f} ms"
                f" and answered on the bus ({same})"
            )

        def received() -> dict[str, Any] | None:
            reply = client.get(f"{urls[Service.STATS]}/v1/diagnostics/probes/{probe_id}")
            return reply.json() if reply.status_code == 200 else None

        receipt = _poll(received, timeout)
        if receipt is None:
            raise ScenarioError(f"stats did not receive probe {probe_id} in {timeout}s")
        say(f"  {'stats':<13} recorded it (stats publishes nothing on the bus)")
        say(f"round trip through all five services: {time.perf_counter() - started:.3f} s")
        return result


def show_stream_entry(redis_url: str, event_type: str, say: Say) -> None:
    """Read the newest event of a type as any Redis client would: plain fields, no FastStream."""
    client = redis.Redis.from_url(redis_url)
    try:
        recent = entries(client.xrevrange(Stream.PLATFORM, count=100))
    finally:
        client.close()
    entry = next((e for e in recent if e.text().get("type") == event_type), None)
    if entry is None:
        raise ScenarioError(f"no {event_type} on {Stream.PLATFORM}")
    event = from_fields(entry.text())
    say(f"the {event_type} entry on {Stream.PLATFORM} ({entry.id}), as XREVRANGE returns it:")
    for name, value in entry.text().items():
        say(f"  {name:<16} {value}")
    say(f"  → decodes as CloudEvent {event.get_type()} from {event.get_source()}")


def play(urls: Mapping[str, str], redis_url: str, say: Say) -> None:
    say("Scenario: a probe crosses every service (the domain scenario arrives with intake)")
    probe(urls, say)
    show_stream_entry(redis_url, ProbeRequested.event_type, say)
