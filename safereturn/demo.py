"""The scenario ``safereturn demo`` plays on a running platform, told step by step.

Until the domain services land it proves the plumbing and the guard: real API clients get
real tokens; a probe sent to intake over HTTP becomes an event (outbox → stream) that every
other service consumes in its own process, the publishing services answer on the bus, and
the trace started by the HTTP request is the one every service saw. Every call is audited,
the audit chains verify, and a revoked client is refused everywhere within seconds.
"""

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import redis

from safereturn import admin
from shared.access import Role
from shared.events.envelope import from_fields
from shared.events.platform import ProbeRequested
from shared.names import Service, Stream
from shared.streams import entries

Say = Callable[[str], None]


class ScenarioError(RuntimeError):
    """A step of the scenario did not happen; the message says which."""


class ApiClient:
    """An agency system: client credentials → bearer token → API calls."""

    def __init__(self, urls: Mapping[str, str], client_id: str, secret: str) -> None:
        self.urls = urls
        self.http = httpx.Client(timeout=10.0)
        response = self.http.post(
            f"{urls[Service.INTAKE]}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id,
                  "client_secret": secret},
        )  # fmt: skip
        if response.status_code != 200:
            raise ScenarioError(f"no token for {client_id}: {response.status_code}")
        self.token = response.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def get(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"{self.urls[service]}{path}", **kwargs)

    def post(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"{self.urls[service]}{path}", **kwargs)

    def close(self) -> None:
        self.http.close()


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


def probe(api: ApiClient, say: Say, *, timeout: float = 30.0) -> str:
    """Send a probe through intake and wait until every service has seen it."""
    trace_id, traceparent = new_traceparent()
    started = time.perf_counter()
    response = api.post(
        Service.INTAKE, "/v1/diagnostics/probes", headers={"traceparent": traceparent}
    )
    if response.status_code != 202:
        raise ScenarioError(f"intake refused the probe: {response.status_code}")
    probe_id: str = response.json()["probe_id"]
    say(f"intake accepted probe {probe_id} (trace {trace_id})")

    def answered() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(Service.INTAKE, f"/v1/diagnostics/probes/{probe_id}").json()
        return body if body.get("complete") else None

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
        reply = api.get(Service.STATS, f"/v1/diagnostics/probes/{probe_id}")
        return reply.json() if reply.status_code == 200 else None

    if _poll(received, timeout) is None:
        raise ScenarioError(f"stats did not receive probe {probe_id} in {timeout}s")
    say(f"  {'stats':<13} recorded it (stats publishes nothing on the bus)")
    say(f"round trip through all five services: {time.perf_counter() - started:.3f} s")
    return probe_id


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


def show_guard(urls: Mapping[str, str], auditor: ApiClient, say: Say) -> None:
    refused = httpx.get(f"{urls[Service.VERIFICATION]}/v1/audit")
    say(f"without a token, verification answers {refused.status_code} ({refused.json()['title']})")
    wrong_role = auditor.post(Service.INTAKE, "/v1/diagnostics/probes")
    say(f"the auditor may not send probes: {wrong_role.status_code} ({wrong_role.json()['title']})")
    records = auditor.get(Service.INTAKE, "/v1/audit", params={"limit": 1000}).json()["records"]
    say(f"intake's audit log holds {len(records)} records; the latest:")
    for record in records[-4:]:
        who = record["client_id"] or "(no valid token)"
        say(f"  #{record['seq']:<4} {record['action']:<42} {record['outcome']:<16} {who}")


def revoke_everywhere(operator: ApiClient, client_id: str, say: Say, timeout: float = 15.0) -> None:
    asyncio.run(admin.revoke_client(say, client_id))
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        codes = {
            service: operator.get(service, "/v1/diagnostics/probes/none").status_code
            for service in Service
        }
        if set(codes.values()) == {401}:
            elapsed = time.monotonic() - started
            say(f"its token is refused by all five services after {elapsed:.1f} s")
            return
        time.sleep(0.2)
    raise ScenarioError(f"a revoked token was still accepted after {timeout}s")


def play(urls: Mapping[str, str], redis_url: str, say: Say) -> None:
    say("1. Agency systems get credentials (secrets are shown once, stored only as hashes)")
    operator_credentials = asyncio.run(
        admin.create_client(say, "Demo operations desk", Role.ADMIN, None, None)
    )
    auditor_credentials = asyncio.run(
        admin.create_client(say, "Ministry inspectorate (demo)", Role.AUDITOR, None, None)
    )
    operator = ApiClient(urls, operator_credentials.client.client_id, operator_credentials.secret)
    auditor = ApiClient(urls, auditor_credentials.client.client_id, auditor_credentials.secret)
    try:
        say("")
        say("2. A probe crosses every service (the domain scenario arrives with intake)")
        probe(operator, say)
        show_stream_entry(redis_url, ProbeRequested.event_type, say)
        say("")
        say("3. Every caller is checked and every call is on record")
        show_guard(urls, auditor, say)
        if not asyncio.run(admin.verify_audit(say, list(Service))):
            raise ScenarioError("an audit chain does not verify")
        say("")
        say("4. Revoking the operator's client")
        revoke_everywhere(operator, operator_credentials.client.client_id, say)
        asyncio.run(admin.revoke_client(say, auditor_credentials.client.client_id))
    finally:
        operator.close()
        auditor.close()
