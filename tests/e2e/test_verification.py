"""Verification on running services: tasks open on reception, decisions within the area,
amendments, and overdue escalations that fire once whatever the replicas and restarts."""

import re
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.verification.procedures import Route, load, opened_steps
from shared.legal_time import DayKind, add_days
from shared.names import Service, Stream
from tests.e2e.conftest import Services
from tests.e2e.test_reports import RECEIVED, REPORT, TODAY, events, post, published, report

WARD, OTHER_WARD = "03325", "03334"


@pytest.fixture(scope="module")
def reporter(platform: Services) -> str:
    return platform.token("reporter")


def new_case(platform: Services, reporter: str, ref: str, **changes: Any) -> str:
    answer = post(platform, "/v1/reports", report(ref, **changes), reporter)
    assert answer.status_code == 202, answer.text
    case_id: str = answer.json()["case_id"]
    return case_id


def decide(platform: Services, token: str, case_id: str, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{platform.urls[Service.VERIFICATION]}/v1/cases/{case_id}/decision",
        json={"outcome": "victim", "decided_at": TODAY.isoformat(),
              "evidence": "police_certificate", **body},
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip


def wait_until_known(platform: Services, case_id: str) -> None:
    published(platform, Stream.CASES, "verification.opened", "case_id", case_id)


def test_a_received_case_opens_one_task_for_the_competent_agency(
    platform: Services, reporter: str
) -> None:
    case_id = new_case(platform, reporter, "v-open")
    opened = published(platform, Stream.CASES, "verification.opened", "case_id", case_id)
    # Law 53/2024 Art. 27 as amended by Law 86/2025: the provincial health department with the
    # provincial police, 3 days for the initial information
    assert opened["agencies"] == ["provincial_health_department", "provincial_police"]
    procedures = load()
    first = opened_steps(procedures, procedures.plan(RECEIVED, Route.SELF_REPORT).procedure,
                         RECEIVED)[0]  # fmt: skip
    assert (opened["level"], opened["ward"], opened["due_on"]) == ("commune", WARD,
                                                                   first["due_on"])  # fmt: skip
    assert (opened["route"], opened["step"]) == ("self_report", "provincial_initial_verification")
    assert opened["limit_known"] is True
    handover = new_case(platform, reporter, "v-border", reception_form="bilateral_handover")
    opened = published(platform, Stream.CASES, "verification.opened", "case_id", handover)
    assert opened["agencies"] == ["provincial_police", "border_guard"]  # Law 53 Arts. 29-30

    verifier = {"Authorization": f"Bearer {platform.token('verifier', '11', WARD)}"}
    tasks = httpx.get(f"{platform.urls[Service.VERIFICATION]}/v1/tasks",
                      params={"status": "open"}, headers=verifier).json()["tasks"]  # fmt: skip
    assert [t["case_id"] for t in tasks].count(case_id) == 1
    assert all(t["ward"] == WARD for t in tasks)
    assert [t["due_on"] for t in tasks] == sorted(t["due_on"] for t in tasks)


def test_a_verifier_decides_within_its_area_and_amends_with_a_reason(
    platform: Services, reporter: str
) -> None:
    case_id = new_case(platform, reporter, "v-decide")
    wait_until_known(platform, case_id)
    commune = platform.token("verifier", "11", WARD)
    elsewhere = platform.token("verifier", "11", OTHER_WARD)
    assert decide(platform, elsewhere, case_id).status_code == 403
    before = (RECEIVED - timedelta(days=1)).isoformat()
    assert decide(platform, commune, case_id, decided_at=before).status_code == 422
    decided = decide(platform, commune, case_id,
                     corrections={"purposes": ["forced_labour"]})  # fmt: skip
    assert decided.status_code == 200, decided.text
    assert decided.json()["task"]["status"] == "closed"
    identified = published(platform, Stream.CASES, "case.identified", "case_id", case_id)
    intake_view = f"{platform.urls[Service.INTAKE]}/v1/cases/{case_id}"
    deadline = time.monotonic() + 10
    while (
        httpx.get(intake_view, headers={"Authorization": f"Bearer {commune}"}).json()["status"]
        != "identified"
    ):
        assert time.monotonic() < deadline, "intake did not follow the decision"
        time.sleep(0.1)
    assert identified["corrections"]["purposes"] == ["forced_labour"]

    again = decide(platform, commune, case_id, outcome="not_victim")
    assert again.status_code == 409
    amended = decide(platform, commune, case_id, outcome="not_victim",
                     amend_reason="the certificate was withdrawn")  # fmt: skip
    assert amended.status_code == 200
    amendment = published(platform, Stream.CASES, "case.identification_amended", "case_id", case_id)
    assert (amendment["outcome"], amendment["previous_outcome"]) == ("not_victim", "victim")
    assert decide(platform, commune, "no-such-case").status_code == 404
    admin = {"Authorization": f"Bearer {platform.token('admin')}"}
    for service in (Service.SUPPORT, Service.NOTIFY, Service.STATS):  # consumers follow it
        url = f"{platform.urls[service]}/v1/diagnostics/cases/{case_id}"
        deadline = time.monotonic() + 10
        while httpx.get(url, headers=admin).json().get("status") != "not_identified":
            assert time.monotonic() < deadline, f"{service} did not follow the amendment"
            time.sleep(0.1)


def test_verification_metrics_are_exported(platform: Services, reporter: str) -> None:
    case_id = new_case(platform, reporter, "v-metrics")
    wait_until_known(platform, case_id)
    assert decide(platform, platform.token("verifier", "11"), case_id).status_code == 200
    deadline = time.monotonic() + 10
    while True:
        text = httpx.get(f"{platform.urls[Service.VERIFICATION]}/metrics").text
        if "safereturn_verification_open_tasks" in text:
            break
        assert time.monotonic() < deadline, "no task gauges"
        time.sleep(0.2)
    assert 'safereturn_verification_open_tasks{age="' in text
    assert "safereturn_verification_overdue_tasks" in text
    assert re.search(r'safereturn_verification_decision_time_days_bucket\{[^}]*le="3.0"', text)
    assert case_id not in text


def test_a_case_decided_not_a_victim(platform: Services, reporter: str) -> None:
    case_id = new_case(platform, reporter, "v-not")
    wait_until_known(platform, case_id)
    answer = decide(platform, platform.token("verifier", "11"), case_id,
                    outcome="not_victim", evidence=None)  # fmt: skip
    assert answer.status_code == 200, answer.text
    published(platform, Stream.CASES, "case.not_identified", "case_id", case_id)


def test_every_received_case_has_exactly_one_task(platform: Services, reporter: str) -> None:
    case_ids = [new_case(platform, reporter, f"v-many-{n}") for n in range(12)]
    for case_id in case_ids:
        wait_until_known(platform, case_id)
    opened = [e["case_id"] for e in events(platform, Stream.CASES, "verification.opened")]
    assert all(opened.count(case_id) == 1 for case_id in case_ids)


def test_an_overdue_task_escalates_once_with_two_replicas_and_a_restart(
    services: Services,
) -> None:
    services.start(Service.INTAKE, Service.VERIFICATION)
    replica = services.start_replica(Service.VERIFICATION)
    reporter = services.token("reporter")
    late = {**report("v-late", received_at="2026-01-05"),
            "consent": {**REPORT["consent"], "recorded_at": "2026-01-05"}}  # fmt: skip
    answer = post(services, "/v1/reports", late, reporter)
    assert answer.status_code == 202, answer.text
    case_id = answer.json()["case_id"]
    overdue = published(services, Stream.CASES, "verification.overdue", "case_id", case_id)
    # Law 53/2024 Art. 27: 3 days for the provincial step, from reception on 2026-01-05
    assert (overdue["escalated_to"], overdue["due_on"]) == ("province", "2026-01-08")
    assert overdue["step"] == "provincial_initial_verification"
    replica.terminate()
    replica.wait(15)
    services.start_replica(Service.VERIFICATION)
    time.sleep(2.0)  # several timer rounds of both processes
    fired = [e for e in events(services, Stream.CASES, "verification.overdue")
             if e["case_id"] == case_id]  # fmt: skip
    assert len(fired) == 1
    reminders = [e for e in events(services, Stream.CASES, "verification.reminder_due")
                 if e["case_id"] == case_id]  # fmt: skip
    assert reminders == [], "a task already late gets an escalation, not a reminder"


def test_a_protection_order_is_made_and_ended(platform: Services, reporter: str) -> None:
    case_id = new_case(platform, reporter, "v-protect")
    wait_until_known(platform, case_id)
    verifier = {"Authorization": f"Bearer {platform.token('verifier', '11', WARD)}"}
    base = f"{platform.urls[Service.VERIFICATION]}/v1/cases/{case_id}/protection"
    order = {"measures": ["confidentiality", "temporary_shelter"],
             "protected": [{"relation": "victim", "count": 1},
                           {"relation": "accompanying_minor", "count": 1}],
             "starts_on": TODAY.isoformat(),
             "ends_on": (TODAY + timedelta(days=90)).isoformat()}  # fmt: skip
    early = httpx.post(base, json=order | {"starts_on": "2026-01-01"}, headers=verifier)
    assert early.status_code == 422
    made = httpx.post(base, json=order, headers=verifier)
    assert made.status_code == 201, made.text
    order_id = made.json()["order_id"]
    ordered = published(platform, Stream.CASES, "protection.ordered", "order_id", order_id)
    assert ordered["measures"] == ["confidentiality", "temporary_shelter"]
    assert ordered["protected"][1] == {"relation": "accompanying_minor", "count": 1}
    ended = httpx.post(
        f"{base}/{order_id}/end",
        json={"ended_on": (TODAY + timedelta(days=10)).isoformat()},
        headers=verifier,
    )
    assert ended.status_code == 200, ended.text
    published(platform, Stream.CASES, "protection.ended", "order_id", order_id)
    again = httpx.post(
        f"{base}/{order_id}/end",
        json={"ended_on": (TODAY + timedelta(days=11)).isoformat()},
        headers=verifier,
    )
    assert again.status_code == 409


def test_law_66_art_24_a_step_done_starts_the_next_limit_from_its_date(
    platform: Services, reporter: str
) -> None:
    """The agency concerned marks its step done (within its area); the police's limit runs
    from the request's date."""
    case_id = new_case(platform, reporter, "v-step")
    opened = published(platform, Stream.CASES, "verification.opened", "case_id", case_id)
    base = f"{platform.urls[Service.VERIFICATION]}/v1/tasks/{opened['task_id']}/steps"
    done = {"on": (RECEIVED + timedelta(days=1)).isoformat()}
    url = f"{base}/provincial_initial_verification/done"
    elsewhere = {"Authorization": f"Bearer {platform.token('verifier', '11', OTHER_WARD)}"}
    assert httpx.post(url, json=done, headers=elsewhere).status_code == 403
    support = {"Authorization": f"Bearer {platform.token('support_officer', '11', WARD)}"}
    assert httpx.post(url, json=done, headers=support).status_code == 403
    verifier = {"Authorization": f"Bearer {platform.token('verifier', '11', WARD)}"}
    early = {"on": (RECEIVED - timedelta(days=1)).isoformat()}
    assert httpx.post(url, json=early, headers=verifier).status_code == 422
    answer = httpx.post(url, json=done, headers=verifier)
    assert answer.status_code == 200, answer.text
    task = answer.json()
    police = add_days(RECEIVED + timedelta(days=1), 20, DayKind.CALENDAR).isoformat()
    assert (task["step"], task["due_on"], task["agencies"]) == (
        "police_identification", police, ["provincial_police"]
    )  # fmt: skip
    assert task["steps"][0]["done_on"] == done["on"]
    assert httpx.post(url, json=done, headers=verifier).status_code == 409
    last = httpx.post(f"{base}/police_identification/done", json=done, headers=verifier)
    assert last.status_code == 409  # the last step ends with the decision
    view = httpx.get(f"{platform.urls[Service.VERIFICATION]}/v1/cases/{case_id}/verification",
                     headers=verifier).json()  # fmt: skip
    assert (view["task"]["step"], view["task"]["due_on"]) == ("police_identification", police)


def test_law_53_art_30_a_child_returned_from_abroad_has_a_return_task_for_child_protection(
    platform: Services, reporter: str
) -> None:
    child = {"full_name": "Lò Văn Bình", "sex": "male", "age": 11, "ethnicity": "03",
             "nationality": "VN"}  # fmt: skip
    case_id = new_case(platform, reporter, "v-child", reception_form="bilateral_handover",
                       person=child)  # fmt: skip
    opened = published(platform, Stream.CASES, "verification.child_return_opened", "case_id",
                       case_id)  # fmt: skip
    assert opened["agencies"] == ["child_protection"]
    assert "Art. 30" in opened["legal_basis"]
    assert opened["limit_known"] is False  # no limit in the law: a configured one, said so
    tasks = f"{platform.urls[Service.VERIFICATION]}/v1/tasks"
    here = {"Authorization": f"Bearer {platform.token('verifier', '11', WARD)}"}
    listed = httpx.get(tasks, params={"kind": "child_return"}, headers=here).json()["tasks"]
    assert [t["task_id"] for t in listed].count(opened["task_id"]) == 1
    assert all(t["kind"] == "child_return" for t in listed)
    elsewhere = {"Authorization": f"Bearer {platform.token('verifier', '11', OTHER_WARD)}"}
    theirs = httpx.get(tasks, params={"kind": "child_return"}, headers=elsewhere).json()
    assert opened["task_id"] not in [t["task_id"] for t in theirs["tasks"]]
    view = httpx.get(f"{platform.urls[Service.VERIFICATION]}/v1/cases/{case_id}/verification",
                     headers=here).json()  # fmt: skip
    assert view["child_task"]["task_id"] == opened["task_id"]
    assert view["task"]["kind"] == "verification"
    protection = {"Authorization": f"Bearer {platform.token('support_officer', '11', WARD)}"}
    own = httpx.get(tasks, headers=protection).json()["tasks"]  # child protection's work list
    assert opened["task_id"] in [t["task_id"] for t in own]
    assert {t["kind"] for t in own} == {"child_return"}
    assert httpx.get(tasks, params={"kind": "verification"}, headers=protection).status_code == 403
    done = httpx.post(f"{tasks}/{opened['task_id']}/steps/child_return/done",
                      json={"on": TODAY.isoformat()}, headers=protection)  # fmt: skip
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["closed_because"]) == ("closed", "done")
