"""Steps 4 and 5 of the demo: reports arrive over HTTP and the submissions stream, and the
police verify them within the legal limits.

The data folder may hold an earlier run's cases: this run finds its own by their ids, never
by being the newest.
"""

import json
import secrets
import time
from datetime import date, timedelta
from functools import partial
from typing import Any

import redis
from joserfc.jwk import ECKey

from safereturn.scenario import ApiClient, Say, ScenarioError, poll
from safereturn.submitting import fetch_encryption_key, submission_fields
from shared.events.envelope import from_fields
from shared.names import Service, Stream
from shared.streams import entries

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
                   "ethnicity": "03", "nationality": "VN", "id_number": "011307{serial}",
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


def submit_on_stream(
    redis_url: str, event_type: str, data: dict[str, Any], token: str, key: ECKey
) -> str:
    """As a border guard's system: the body encrypted to intake's key, so nobody else can
    read the person in it on the stream or in Redis's files."""
    submission_id = secrets.token_hex(8)
    fields = submission_fields(event_type, data, token, key, event_id=submission_id,
                               source="/agency/border-guard")  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    try:
        client.xadd(Stream.SUBMISSIONS, fields)  # type: ignore[arg-type]
    finally:
        client.close()
    return submission_id


def report_cases(
    redis_url: str,
    reporter: ApiClient,
    operator: ApiClient,
    say: Say,
    *,
    submitter_url: str | None = None,
) -> list[str]:
    """The reports of ``REPORTS`` (their case ids, in order), then the stream submissions
    (published as agency systems do, with the ``submitter`` Redis user where there is one)."""
    # Each run's persons are new arrivals: the same ID number would be the same person, and
    # intake would merge this run's report into an earlier run's case.
    values = {"today": time.strftime("%Y-%m-%d"), "stamp": secrets.token_hex(3),
              "serial": f"{secrets.randbelow(10**6):06d}"}  # fmt: skip
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
    _refused_elsewhere(reporter, values, say)
    handover = _fill(HANDOVER, values)
    key = fetch_encryption_key(reporter.urls[Service.INTAKE])
    stream_url = submitter_url or redis_url
    submit_on_stream(stream_url, "report.submitted", handover, reporter.token, key)
    bad = dict(handover, source_ref=f"BP-LC-{values['stamp']}-bad", received_at="2999-01-01")
    bad_id = submit_on_stream(stream_url, "report.submitted", bad, reporter.token, key)
    say(
        f"  two submissions published on the submissions stream, encrypted to intake's key "
        f"{key.kid} (one with a future date)"
    )
    rejected = poll(lambda: _rejected(redis_url, bad_id), 15.0)
    if rejected is None:
        raise ScenarioError("the bad submission was not rejected")
    reasons = ", ".join(f"{r['field']}: {r['message']}" for r in rejected["reasons"])
    say(f"  refused onto {Stream.SUBMISSIONS_REJECTED}: {reasons}")
    return case_ids


def _refused_elsewhere(reporter: ApiClient, values: dict[str, str], say: Say) -> None:
    """Writes are scoped like reads: Điện Biên's reporter cannot open a case in Tuyên Quang."""
    body = _fill(REPORTS, values)[0] | {"source_ref": f"111-{values['stamp']}-0043",
                                        "area": {"province": "08", "ward": "00694"}}  # fmt: skip
    answer = reporter.post(Service.INTAKE, "/v1/reports", json=body)
    if answer.status_code != 403:
        raise ScenarioError(f"a report outside the reporter's area: {answer.status_code}")
    fields = ", ".join(error["field"] for error in answer.json()["errors"])
    say(
        f"  a report about a commune of Tuyên Quang, outside the reporter's province → "
        f"{answer.status_code} ({fields}: out_of_area); nothing stored, nobody notified"
    )


def known_tasks(verifier: ApiClient) -> set[str]:
    """The cases that already have a verification task (an earlier run of the demo's)."""
    tasks = verifier.get(Service.VERIFICATION, "/v1/tasks").json()["tasks"]
    return {task["case_id"] for task in tasks}


def verify_cases(
    redis_url: str,
    reporter: ApiClient,
    verifier: ApiClient,
    operator: ApiClient,
    say: Say,
    *,
    reported: list[str],
    earlier: set[str],
) -> None:
    """Tasks open on reception; the police decide; a late one escalates to the province.

    ``reported`` are this run's cases; ``earlier`` the cases an earlier run left in the folder,
    whose tasks this run neither lists nor decides.
    """

    def opened() -> dict[str, Any] | None:
        listed = verifier.get(Service.VERIFICATION, "/v1/tasks", params={"status": "open"})
        mine = [t for t in listed.json()["tasks"] if t["case_id"] not in earlier]
        return {"tasks": mine} if set(reported) <= {t["case_id"] for t in mine} else None

    tasks = poll(opened, 15.0)
    if tasks is None:
        raise ScenarioError("no verification task was opened")
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
    late = _fill(REPORTS[0], {"today": BEFORE_TET.isoformat(), "stamp": secrets.token_hex(3)})
    late_case = reporter.post(Service.INTAKE, "/v1/reports", json=late).json()["case_id"]
    escalated = poll(lambda: _events(redis_url, "verification.overdue", late_case), 30.0)
    if escalated is None:
        raise ScenarioError("no overdue escalation")
    _tet_deadline(verifier, late_case, say)
    say(f"  it was past due ({escalated['due_on']}): "
        f"verification.overdue, escalated to the {escalated['escalated_to']}")  # fmt: skip


BEFORE_TET = date(2026, 2, 12)  # a Thursday; Tết holidays 2026-02-16..20, weekends either side


def _tet_deadline(verifier: ApiClient, case_id: str, say: Say) -> None:
    """A limit in calendar days that ends on a weekend rolls past Tết to the next working day."""

    def task() -> dict[str, Any] | None:
        answer = verifier.get(Service.VERIFICATION, f"/v1/cases/{case_id}/verification")
        found: dict[str, Any] | None = answer.json().get("task") if answer.is_success else None
        return found

    found = poll(task, 15.0)
    if found is None:
        raise ScenarioError("no verification task for the report received before Tết")
    step = found["steps"][0]
    ends = BEFORE_TET + timedelta(days=step["days"])
    due = date.fromisoformat(step["due_on"])
    say(
        f"  a report received {BEFORE_TET:%a %Y-%m-%d}, just before Tết: {step['days']} "
        f"{step['day_kind']} days for {', '.join(step['agencies'])} ({step['legal_basis']})"
    )
    say(
        f"    end on {ends:%a %Y-%m-%d} → roll past the weekends and Tết (16-20 Feb) → "
        f"due {due:%a %Y-%m-%d} (Civil Code 2015 Art. 148(5))"
    )


def _events(redis_url: str, event_type: str, case_id: str) -> dict[str, Any] | None:
    client = redis.Redis.from_url(redis_url)
    try:
        recent = entries(client.xrevrange(Stream.CASES, count=500))
    finally:
        client.close()
    for entry in recent:
        if entry.text().get("type") == event_type:
            found: dict[str, Any] = json.loads(entry.text()["data"])
            if found.get("case_id") == case_id:
                return found
    return None


def _decided(client: ApiClient, service: str, case_id: str) -> dict[str, Any] | None:
    found = _known(client, service, case_id)
    return found if found and found["status"] == "identified" else None


def _known(operator: ApiClient, service: str, case_id: str) -> dict[str, Any] | None:
    answer = operator.get(service, f"/v1/diagnostics/cases/{case_id}")
    found: dict[str, Any] | None = answer.json() if answer.status_code == 200 else None
    return found


def _rejected(redis_url: str, submission_id: str) -> dict[str, Any] | None:
    """The refusal of one submission (an earlier run's refusals are on the stream too)."""
    client = redis.Redis.from_url(redis_url)
    try:
        found = entries(client.xrevrange(Stream.SUBMISSIONS_REJECTED, count=100))
    finally:
        client.close()
    for entry in found:
        data: dict[str, Any] = json.loads(str(from_fields(entry.text()).get_data()))
        if data.get("submission_id") == submission_id:
            return data
    return None
