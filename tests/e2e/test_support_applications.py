"""Applications for support on running services: recorded with their stages and due dates,
moved stage by stage through the HTTP API, ended by a decision that links the grants, and a
stage past its legal limit escalated once, with two support replicas and a restart."""

import time
from datetime import date
from typing import Any

import httpx
import pytest

from services.support.applications import load_procedures
from services.support.policies import Regime
from shared.legal_time import DayKind, add_days
from shared.names import Service, Stream
from tests.e2e.conftest import Services
from tests.e2e.test_reports import NAME, events, post, report
from tests.e2e.test_support import HA_GIANG_WARD, IDENTIFIED, OLD_REGIME_RECEIVED, Officer

APPLIED_ON = date(2025, 4, 23)  # a Wednesday: 3 working days end on Saturday 2025-04-26
OLD = load_procedures()[Regime.LAW_66_2011]


def identified_old_regime_case(services: Services) -> str:
    """A person received in former Hà Giang on 2025-03-10, identified a victim on 2025-04-01."""
    received = OLD_REGIME_RECEIVED.isoformat()
    body = report("app-1", received_at=received, area={"province": "08", "ward": HA_GIANG_WARD},
                  accompanying_minors=[])  # fmt: skip
    body["person"]["birth_date"] = "1996-05-02"
    body["consent"]["recorded_at"] = received
    answer = post(services, "/v1/reports", body, services.token("reporter"))
    assert answer.status_code == 202, answer.text
    case_id: str = answer.json()["case_id"]
    decide = f"{services.urls[Service.VERIFICATION]}/v1/cases/{case_id}/decision"
    verifier = {"Authorization": f"Bearer {services.token('verifier', '08')}"}
    decision = {"outcome": "victim", "decided_at": IDENTIFIED.isoformat(),
                "evidence": "police_certificate"}  # fmt: skip
    deadline = time.monotonic() + 20
    while (answer := httpx.post(decide, json=decision, headers=verifier)).status_code == 404:
        assert time.monotonic() < deadline, "verification never saw the case"
        time.sleep(0.1)
    assert answer.status_code == 200, answer.text
    url = f"{services.urls[Service.SUPPORT]}/v1/diagnostics/cases/{case_id}"
    admin = services.auth()  # one client: each new one costs a slow secret hash
    while httpx.get(url, headers=admin).json().get("status") != "identified":
        assert time.monotonic() < deadline, "support never saw the decision"
        time.sleep(0.1)
    return case_id


def overdue(services: Services, application_id: str, stage: str) -> list[dict[str, Any]]:
    return [e for e in events(services, Stream.CASES, "application.overdue")
            if (e["application_id"], e["stage"]) == (application_id, stage)]  # fmt: skip


def escalated(services: Services, application_id: str, stage: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while not (found := overdue(services, application_id, stage)):
        assert time.monotonic() < deadline, f"{stage} was never escalated"
        time.sleep(0.1)
    return found[0]


def problem_rules(answer: httpx.Response) -> list[str]:
    assert answer.headers["content-type"] == "application/problem+json", answer.text
    return [error.get("rule", error["field"]) for error in answer.json()["errors"]]


@pytest.mark.timeout(300)  # three services, a replica and its restart: ~100 s on a busy machine
def test_decree_09_art_23_an_application_runs_its_stages_and_escalates_each_late_one_once(
    services: Services,
) -> None:
    services.start(Service.INTAKE, Service.VERIFICATION, Service.SUPPORT)
    replica = services.start_replica(Service.SUPPORT)
    case_id = identified_old_regime_case(services)
    officer = Officer(services, "support_officer", "08")
    elsewhere = Officer(services, "support_officer", "11")
    path = f"/v1/cases/{case_id}/applications"
    body = {"kinds": ["education", "hardship_allowance"], "received_at": APPLIED_ON.isoformat(),
            "received_by": "UBND xã Minh Tân"}  # fmt: skip

    assert elsewhere.post(path, body).status_code == 403
    unknown = officer.post(path, body | {"kinds": ["spa_weekend"]})
    assert (unknown.status_code, problem_rules(unknown)) == (422, ["kinds.0"])
    no_procedure = officer.post(path, body | {"kinds": ["shelter_meals"]})
    assert (no_procedure.status_code, problem_rules(no_procedure)) == (422, ["kinds.no_procedure"])
    too_early = officer.post(path, body | {"received_at": "2025-03-09"})
    assert problem_rules(too_early) == ["received_at.range"]

    recorded = officer.post(path, body)
    assert recorded.status_code == 201, recorded.text
    application = recorded.json()
    application_id = application["application_id"]
    assert (application["regime"], application["status"]) == ("law-66-2011", "open")
    stages = application["stages"]
    assert [(s["stage"], s["days"], s["day_kind"], s["status"]) for s in stages] == [
        ("commune_forwarding", 3, "working", "open"),
        ("district_appraisal", 5, "working", "pending"),
        ("district_decision", 3, "working", "pending"),
    ]  # fmt: skip
    assert [s["due_on"] for s in stages] == ["2025-04-26", None, None]  # a working Saturday
    assert all(s["legal_basis"] == "Decree 09/2013/NĐ-CP Art. 23" for s in stages)
    assert (application["current_stage"], application["current_due_on"]) == (
        "commune_forwarding", "2025-04-26"
    )  # fmt: skip
    assert application["overdue"] is True
    again = officer.post(path, body | {"kinds": ["education"]})
    assert (again.status_code, problem_rules(again)) == (409, ["application.open"])

    # The commune chair's 3 working days ran out long ago: escalated, once, whoever's timer.
    fired = escalated(services, application_id, "commune_forwarding")
    assert (fired["due_on"], fired["escalated_to"], fired["level"]) == (
        "2025-04-26", "district_people_committee", "commune"
    )  # fmt: skip
    assert (fired["province"], fired["ward"], fired["limit_known"]) == ("08", HA_GIANG_WARD, True)
    assert NAME not in str(fired)
    late = officer.get("/v1/applications", overdue="true").json()["applications"]
    assert [a["application_id"] for a in late] == [application_id]
    assert late[0]["stages"][0]["status"] == "overdue"
    assert late[0]["stages"][0]["overdue_at"] is not None
    assert elsewhere.get("/v1/applications").json()["applications"] == []
    assert elsewhere.get(f"/v1/applications/{application_id}").status_code == 403

    stage_path = f"/v1/applications/{application_id}/stages"
    wrong = officer.post(f"{stage_path}/district_decision/done", {"on": "2025-04-28"})
    assert (wrong.status_code, problem_rules(wrong)) == (409, ["application.stage"])
    before = officer.post(f"{stage_path}/commune_forwarding/done", {"on": "2025-04-22"})
    assert problem_rules(before) == ["on.range"]
    forwarded = officer.post(f"{stage_path}/commune_forwarding/done", {"on": "2025-04-28"})
    assert forwarded.status_code == 200, forwarded.text
    appraisal_due = add_days(date(2025, 4, 28), 5, DayKind.WORKING).isoformat()
    assert (forwarded.json()["current_stage"], forwarded.json()["current_due_on"]) == (
        "district_appraisal", appraisal_due
    )  # fmt: skip
    assert forwarded.json()["stages"][1]["started_on"] == "2025-04-28"
    escalated(services, application_id, "district_appraisal")  # also long past its limit

    # A restart of one replica and several timer rounds of both: still one event per stage.
    replica.terminate()
    replica.wait(15)
    services.start_replica(Service.SUPPORT)
    time.sleep(2.0)
    assert len(overdue(services, application_id, "commune_forwarding")) == 1
    assert len(overdue(services, application_id, "district_appraisal")) == 1

    appraised = officer.post(f"{stage_path}/district_appraisal/done", {"on": "2025-05-06"})
    assert appraised.status_code == 200, appraised.text
    undecided = officer.post(f"{stage_path}/district_decision/done", {"on": "2025-05-08"})
    assert problem_rules(undecided) == ["decision.required"]

    poor = {"poor_household": True, "household_evidence": "GCN hộ nghèo 07/2025"}
    assert officer.put(f"/v1/cases/{case_id}/circumstances", poor).status_code == 200
    granted = officer.grant(case_id, kind="hardship_allowance", granted_at="2025-05-08")
    assert granted.status_code == 201, granted.text
    grant_id = granted.json()["grant_id"]
    wrong_kind = {"on": "2025-05-08", "decision": {
        "approved": [{"kind": "education", "grant_id": grant_id}],
        "refused": ["hardship_allowance"], "reason": "Không thuộc diện hỗ trợ"}}  # fmt: skip
    assert problem_rules(officer.post(f"{stage_path}/district_decision/done", wrong_kind)) == [
        "decision.grant"
    ]
    decision = {"on": "2025-05-08", "decision": {
        "approved": [{"kind": "hardship_allowance", "grant_id": grant_id}],
        "refused": ["education"], "reason": "Nạn nhân đã hết tuổi đi học"}}  # fmt: skip
    decided = officer.post(f"{stage_path}/district_decision/done", decision)
    assert decided.status_code == 200, decided.text
    answer = decided.json()
    assert (answer["status"], answer["current_stage"], answer["overdue"]) == (
        "partly_approved", None, False
    )  # fmt: skip
    assert answer["decision"]["approved"] == [{"kind": "hardship_allowance", "grant_id": grant_id}]
    assert answer["decision"]["refused"] == ["education"]
    assert [s["status"] for s in answer["stages"]] == ["done", "done", "done"]
    read = officer.get(f"/v1/applications/{application_id}").json()
    assert read["decision"]["reason"] == "Nạn nhân đã hết tuổi đi học"
    listed = officer.get("/v1/applications", status="partly_approved").json()["applications"]
    assert listed[0]["decision"]["reason"] is None  # a list leaves the reasons out
    closed = officer.post(f"{stage_path}/district_decision/done", decision)
    assert (closed.status_code, problem_rules(closed)) == (409, ["application.decided"])

    auditor = Officer(services, "auditor", None)
    actions = [r["action"] for r in auditor.get("/v1/audit", limit=1000).json()["records"]]
    assert "POST /v1/cases/{case_id}/applications" in actions
    assert "POST /v1/applications/{application_id}/stages/{stage}/done" in actions
    metrics = httpx.get(f"{services.urls[Service.SUPPORT]}/metrics").text
    assert "safereturn_support_overdue_applications" in metrics
    assert "safereturn_support_open_applications" in metrics
    assert case_id not in metrics
