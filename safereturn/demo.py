"""The scenario ``safereturn demo`` plays on a running platform, told step by step.

Real API clients get real tokens; a probe sent to intake over HTTP becomes an event (outbox →
stream) that every other service consumes in its own process, with one trace throughout.
Reports arrive over HTTP and the submissions stream, the police verify within the legal limits,
support grants what the law allows and pays it from budgets, every call is audited, the audit
chains verify, and a revoked client is refused everywhere within seconds.
"""

import asyncio
import json
import secrets
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import redis

from safereturn import admin, demo_notify, demo_stats
from safereturn.demo_support import support_cases
from safereturn.scenario import ApiClient, Say, ScenarioError, poll
from shared.access import Role
from shared.events.envelope import from_fields
from shared.events.platform import ProbeRequested
from shared.names import Service, Stream
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


TODAY = "{today}"

REPORTS: list[dict[str, Any]] = [
    {
        "source_ref": "111-{stamp}-0042",
        "channel": "hotline_111",
        "received_at": TODAY,
        "area": {"province": "11", "ward": "03325"},
        "reception_form": "suspected",
        "person": {"sex": "female", "age": 16, "ethnicity": "08", "nationality": "VN"},
        "trafficking": {"scope": "abroad", "destination_country": "CN"},
        "consent": {"services": False, "information_sharing": False, "statistics": True,
                    "recorded_by": "Tổng đài viên 111", "recorded_at": TODAY},
        "note": "Gia đình báo con gái vắng mặt lâu ngày, nghi bị đưa sang Trung Quốc",
    },
    {
        "source_ref": "UBND-MP-{stamp}-007",
        "channel": "commune",
        "received_at": TODAY,
        "area": {"legacy_address": "Xã Mường Phăng, Huyện Điện Biên, Tỉnh Điện Biên"},
        "reception_form": "self_returned",
        "person": {"full_name": "Lò Thị Mai", "sex": "female", "birth_date": "2007-03-14",
                   "ethnicity": "03", "nationality": "VN", "id_number": "011307001234",
                   "phone": "0912345678",
                   "residence": {"province": "11", "ward": "03325"}},
        "trafficking": {"scope": "abroad", "destination_country": "CN",
                        "purposes": ["forced_marriage"]},
        "accompanying_minors": [{"full_name": "Lò Văn An", "sex": "male", "age": 2}],
        "consent": {"services": True, "information_sharing": True, "statistics": True,
                    "recorded_by": "Cán bộ văn hóa - xã hội xã Mường Phăng",
                    "recorded_at": TODAY},
    },
]  # fmt: skip

HANDOVER: dict[str, Any] = {
    "source_ref": "BP-LC-{stamp}-003",
    "channel": "border_guard",
    "received_at": TODAY,
    "area": {"province": "11"},
    "reception_form": "bilateral_handover",
    "person": {"full_name": "Vàng Thị Dung", "sex": "female", "age": 19, "ethnicity": "08",
               "nationality": "VN"},
    "trafficking": {"scope": "abroad", "destination_country": "CN",
                    "purposes": ["sexual_exploitation"]},
    "consent": {"services": True, "information_sharing": True, "statistics": True,
                "recorded_by": "Đồn Biên phòng", "recorded_at": TODAY},
}  # fmt: skip


def _fill(template: Any, values: dict[str, str]) -> Any:
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    return template.format(**values) if isinstance(template, str) else template


def submit_on_stream(redis_url: str, event_type: str, data: dict[str, Any], token: str) -> str:
    submission_id = secrets.token_hex(8)
    fields = {
        "specversion": "1.0", "id": submission_id, "source": "/agency/border-guard",
        "type": event_type, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "datacontenttype": "application/json", "authorization": f"Bearer {token}",
        "data": json.dumps(data, ensure_ascii=False),
    }  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    try:
        client.xadd(Stream.SUBMISSIONS, fields)  # type: ignore[arg-type]
    finally:
        client.close()
    return submission_id


def report_cases(redis_url: str, reporter: ApiClient, operator: ApiClient, say: Say) -> list[str]:
    """The reports of ``REPORTS`` (their case ids, in order), then the stream submissions."""
    values = {"today": time.strftime("%Y-%m-%d"), "stamp": secrets.token_hex(3)}
    case_ids = []
    for body in _fill(REPORTS, values):
        answer = reporter.post(Service.INTAKE, "/v1/reports", json=body)
        if answer.status_code != 202:
            raise ScenarioError(f"report refused: {answer.status_code} {answer.text}")
        case_ids.append(case_id := answer.json()["case_id"])
        say(f"  {body['channel']:<12} {body['reception_form']:<18} → case {case_id}")
    known = [
        service
        for service in Service
        if service != Service.INTAKE
        and poll(partial(_known, operator, service, case_id), 15.0) is not None
    ]
    say(f"  case.received reached {', '.join(known)} (area and consent, no names)")
    repeat = reporter.post(Service.INTAKE, "/v1/reports", json=_fill(REPORTS, values)[1])
    again = repeat.json()["case_id"]
    say(f"  the same report again → {repeat.status_code}, case {again} (idempotent)")
    activity = {"kind": "communication_session", "date": values["today"],
                "area": {"province": "11", "ward": "03325"}, "sessions": 2,
                "participants": 140, "leaflets": 300}  # fmt: skip
    answer = reporter.post(Service.INTAKE, "/v1/activities", json=activity)
    say(f"  an outreach session → {answer.status_code} {answer.json().get('status')}")
    handover = _fill(HANDOVER, values)
    submit_on_stream(redis_url, "report.submitted", handover, reporter.token)
    bad = dict(handover, source_ref="BP-LC-bad", received_at="2999-01-01")
    submit_on_stream(redis_url, "report.submitted", bad, reporter.token)
    say("  two submissions published on the submissions stream (one with a future date)")
    rejected = poll(lambda: _rejected(redis_url), 15.0)
    if rejected is None:
        raise ScenarioError("the bad submission was not rejected")
    reasons = ", ".join(f"{r['field']}: {r['message']}" for r in rejected["reasons"])
    say(f"  refused onto {Stream.SUBMISSIONS_REJECTED}: {reasons}")
    return case_ids


def verify_cases(
    redis_url: str, reporter: ApiClient, verifier: ApiClient, operator: ApiClient, say: Say
) -> None:
    """Tasks open on reception; the police decide; a late one escalates to the province."""
    if poll(lambda: _events(redis_url, "verification.opened"), 15.0) is None:
        raise ScenarioError("no verification task was opened")
    tasks = verifier.get(Service.VERIFICATION, "/v1/tasks", params={"status": "open"}).json()
    say(f"  {len(tasks['tasks'])} verification task(s) open in the province, soonest due first:")
    for task in tasks["tasks"][:3]:
        agencies = ", ".join(task["agencies"])
        say(f"    due {task['due_on']}  {agencies:<32} {task['legal_basis'][:40]}")
    decided: list[str] = []
    for task, outcome in zip(tasks["tasks"][:2], ("victim", "not_victim"), strict=False):
        body = {"outcome": outcome, "decided_at": time.strftime("%Y-%m-%d"),
                "evidence": "police_certificate" if outcome == "victim" else None}  # fmt: skip
        answer = verifier.post(Service.VERIFICATION, f"/v1/cases/{task['case_id']}/decision",
                               json=body)  # fmt: skip
        decided.append(f"{outcome} ({answer.status_code})")
    say(f"  decisions: {', '.join(decided)} → case.identified / case.not_identified")
    victim = tasks["tasks"][0]["case_id"]
    order = {"measures": ["confidentiality", "temporary_shelter"],
             "protected": [{"relation": "victim", "count": 1},
                           {"relation": "close_relative", "count": 2}],
             "starts_on": time.strftime("%Y-%m-%d")}  # fmt: skip
    ordered = verifier.post(Service.VERIFICATION, f"/v1/cases/{victim}/protection", json=order)
    say(f"  protection ordered for the victim and 2 relatives → {ordered.status_code}"
        " protection.ordered")  # fmt: skip
    for service in (Service.SUPPORT, Service.NOTIFY, Service.STATS):
        known = poll(partial(_decided, operator, service, victim), 15.0)
        say(f"  {service} sees the case as {known['status'] if known else 'UNKNOWN'}")
    late = _fill(REPORTS, {"today": "2026-01-05", "stamp": secrets.token_hex(3)})[0]
    reporter.post(Service.INTAKE, "/v1/reports", json=late)
    escalated = poll(lambda: _events(redis_url, "verification.overdue"), 30.0)
    if escalated is None:
        raise ScenarioError("no overdue escalation")
    say(f"  a report received on 2026-01-05 was past due ({escalated['due_on']}): "
        f"verification.overdue, escalated to the {escalated['escalated_to']}")  # fmt: skip


def _events(redis_url: str, event_type: str) -> dict[str, Any] | None:
    client = redis.Redis.from_url(redis_url)
    try:
        recent = entries(client.xrevrange(Stream.CASES, count=500))
    finally:
        client.close()
    for entry in recent:
        if entry.text().get("type") == event_type:
            found: dict[str, Any] = json.loads(entry.text()["data"])
            return found
    return None


def _decided(client: ApiClient, service: str, case_id: str) -> dict[str, Any] | None:
    found = _known(client, service, case_id)
    return found if found and found["status"] == "identified" else None


def _known(operator: ApiClient, service: str, case_id: str) -> dict[str, Any] | None:
    answer = operator.get(service, f"/v1/diagnostics/cases/{case_id}")
    found: dict[str, Any] | None = answer.json() if answer.status_code == 200 else None
    return found


def _rejected(redis_url: str) -> dict[str, Any] | None:
    client = redis.Redis.from_url(redis_url)
    try:
        found = entries(client.xrevrange(Stream.SUBMISSIONS_REJECTED, count=1))
    finally:
        client.close()
    if not found:
        return None
    data: dict[str, Any] = json.loads(str(from_fields(found[0].text()).get_data()))
    return data


def play(
    urls: Mapping[str, str], redis_url: str, say: Say, peers: demo_notify.Peers, data_dir: Path
) -> None:
    say("1. Agency systems get credentials (secrets are shown once, stored only as hashes)")
    operator_credentials = asyncio.run(
        admin.create_client(say, "Demo operations desk", Role.ADMIN, None, None)
    )
    auditor_credentials = asyncio.run(
        admin.create_client(say, "Ministry inspectorate (demo)", Role.AUDITOR, None, None)
    )
    reporter_credentials = asyncio.run(
        admin.create_client(say, "Sở Y tế Điện Biên (demo)", Role.REPORTER, "11", None)
    )
    reporter = ApiClient(urls, reporter_credentials.client.client_id, reporter_credentials.secret)
    verifier_credentials = asyncio.run(
        admin.create_client(say, "Công an tỉnh Điện Biên (demo)", Role.VERIFIER, "11", None)
    )
    verifier = ApiClient(urls, verifier_credentials.client.client_id, verifier_credentials.secret)
    operator = ApiClient(urls, operator_credentials.client.client_id, operator_credentials.secret)
    auditor = ApiClient(urls, auditor_credentials.client.client_id, auditor_credentials.secret)
    try:
        say("")
        say("2. A probe crosses every service")
        probe(operator, say)
        show_stream_entry(redis_url, Stream.PLATFORM, ProbeRequested.event_type, say)
        say("")
        say("3. Notify: the agency directory and an integrator's subscription")
        integrator = demo_notify.set_up(dict(urls), operator, say, peers)
        say("")
        say("4. Reports arrive over HTTP and on the submissions stream")
        hotline_case, *_ = report_cases(redis_url, reporter, operator, say)
        show_stream_entry(redis_url, Stream.CASES, "case.received", say)
        say("")
        say("5. The police verify within the legal time limits")
        verify_cases(redis_url, reporter, verifier, operator, say)
        say("")
        say("6. Support: what the law grants, paid from budgets, referrals")
        support_cases(urls, operator, hotline_case, say)
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
        say("")
        say("10. The statistics form for the scenario")
        demo_stats.show_form(dict(urls), data_dir, say)
    finally:
        for client in (operator, auditor, reporter, verifier):
            client.close()
