"""The scenario ``safereturn demo`` plays on a running platform, told step by step.

Real API clients get real tokens; a probe sent to intake over HTTP becomes an event (outbox →
stream) that every other service consumes in its own process, with one trace throughout.
Reports arrive over HTTP and the submissions stream, the police verify within the legal limits,
support grants what the law allows and pays it from budgets, every call is audited, the audit
chains verify, and a revoked client is refused everywhere within seconds.
"""

import asyncio
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import redis

from safereturn import admin, demo_notify, demo_redis, demo_stats
from safereturn.demo_cases import known_tasks, report_cases, verify_cases
from safereturn.demo_support import support_cases
from safereturn.scenario import ApiClient, Say, ScenarioError, poll
from shared.access import Role
from shared.events.envelope import from_fields
from shared.events.platform import ProbeRequested
from shared.names import Service, Stream
from shared.redis_acl import OPERATOR, SUBMITTER
from shared.streams import entries


def new_traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


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

    result = poll(answered, timeout)
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

    if poll(received, timeout) is None:
        raise ScenarioError(f"stats did not receive probe {probe_id} in {timeout}s")
    say(f"  {'stats':<13} recorded it (stats publishes nothing on the bus)")
    say(f"round trip through all five services: {time.perf_counter() - started:.3f} s")
    return probe_id


def show_stream_entry(redis_url: str, stream: str, event_type: str, say: Say) -> None:
    """Read the newest event of a type as any Redis client would: plain fields, no FastStream."""

    def newest() -> dict[str, Any] | None:
        client = redis.Redis.from_url(redis_url)
        try:
            recent = entries(client.xrevrange(stream, count=100))
        finally:
            client.close()
        found = next((e for e in recent if e.text().get("type") == event_type), None)
        return {"entry": found} if found else None

    found = poll(newest, 15.0)
    if found is None:
        raise ScenarioError(f"no {event_type} on {stream}")
    entry = found["entry"]
    event = from_fields(entry.text())
    say(f"the newest {event_type} on {stream} ({entry.id}), as XREVRANGE returns it:")
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


def play(
    urls: Mapping[str, str],
    redis_urls: Mapping[str, str],
    say: Say,
    peers: demo_notify.Peers,
    data_dir: Path,
) -> None:
    """The scenario; ``redis_urls``: each party's Redis URL (at least the operator's)."""
    redis_url = redis_urls[OPERATOR]
    say("1. Agency systems get credentials (secrets are shown once, stored only as hashes)")
    enrolled = {
        name: asyncio.run(admin.create_client(say, agency, role, province, None))
        for name, agency, role, province in (
            ("operator", "Demo operations desk", Role.ADMIN, None),
            ("auditor", "Ministry inspectorate (demo)", Role.AUDITOR, None),
            ("reporter", "Sở Y tế Điện Biên (demo)", Role.REPORTER, "11"),
            ("verifier", "Công an tỉnh Điện Biên (demo)", Role.VERIFIER, "11"),
        )
    }
    operator_credentials, auditor_credentials, reporter_credentials, verifier_credentials = (
        enrolled.values()
    )
    reporter, verifier, operator, auditor = (
        ApiClient(urls, enrolled[name].client.client_id, enrolled[name].secret)
        for name in ("reporter", "verifier", "operator", "auditor")
    )
    form: demo_stats.Form | None = None
    try:
        say("")
        say("2. A probe crosses every service")
        probe(operator, say)
        show_stream_entry(redis_url, Stream.PLATFORM, ProbeRequested.event_type, say)
        # What an earlier run of the demo in this folder left: this run tells its own story.
        form, earlier_cases = demo_stats.Form(dict(urls)), known_tasks(verifier)
        say("")
        say("3. Notify: the agency directory, an integrator's subscription and its own stream")
        integrator = demo_notify.set_up(dict(urls), operator, say, peers, redis_url)
        say("")
        say("4. Reports arrive over HTTP and on the submissions stream")
        reported = report_cases(
            redis_url, reporter, operator, say, submitter_url=redis_urls.get(SUBMITTER)
        )
        show_stream_entry(redis_url, Stream.CASES, "case.received", say)
        say("")
        say("5. The police verify within the legal time limits")
        verify_cases(
            redis_url, reporter, verifier, operator, say, reported=reported, earlier=earlier_cases
        )
        say("")
        say("6. Support: what the law grants, paid from budgets, referrals")
        support_cases(urls, operator, reported[0], say)  # the hotline's child
        say("")
        say("7. What each agency and the integrator received (local mail server, SMS gateway, "
            "webhook endpoint)")  # fmt: skip
        demo_notify.show_messages(peers, integrator, say)
        demo_notify.close(integrator, say)
        say("")
        say("8. Every caller is checked and every call is on record")
        show_guard(urls, auditor, say)
        if not asyncio.run(admin.verify_audit(say, list(Service))):
            raise ScenarioError("an audit chain does not verify")
        say("")
        say("9. Revoking the operator's client")
        revoke_everywhere(operator, operator_credentials.client.client_id, say)
        for credentials in (auditor_credentials, reporter_credentials, verifier_credentials):
            asyncio.run(admin.revoke_client(say, credentials.client.client_id))
        demo_redis.step("10.", redis_urls, reported[0], say)
        say("")
        say("11. The statistics form for the scenario")
        form.show(data_dir, say)
    finally:
        for client in (operator, auditor, reporter, verifier):
            client.close()
        if form is not None:
            form.close()
