"""Access within the API, on running services: writes are scoped by area like reads; nothing
about a case outside the caller's area can be told from any answer, not even through a merge;
a provider acts only on the referrals addressed to it; four eyes cannot be split."""

import time
import zlib
from typing import Any

import httpx
import pytest

from shared.names import Service, Stream
from tests.e2e.conftest import Services
from tests.e2e.test_reports import TODAY, post, published, report
from tests.e2e.test_support import CTXH, Officer, old_regime_case, wait_for_support

PROVINCE, WARD, OTHER_WARD = "11", "03325", "03328"  # two communes of Điện Biên
ELSEWHERE = {"province": "08", "ward": "00694"}  # a commune of Tuyên Quang


def auth(platform: Services, role: str, province: str | None = None, ward: str | None = None,
         **agency: str) -> dict[str, str]:  # fmt: skip
    return {"Authorization": f"Bearer {platform.token(role, province, ward, **agency)}"}


def url(platform: Services, service: str, path: str) -> str:
    return f"{platform.urls[service]}{path}"


@pytest.fixture(scope="module")
def commune_reporter(platform: Services) -> str:
    return platform.token("reporter", PROVINCE, WARD)


def test_a_write_outside_the_callers_area_is_refused_naming_the_field(
    platform: Services, commune_reporter: str
) -> None:
    outside = {
        "area.ward": report("o-1", area={"province": PROVINCE, "ward": OTHER_WARD}),
        "area.province": report("o-2", area=ELSEWHERE),
    }
    for field, body in outside.items():
        answer = post(platform, "/v1/reports", body, commune_reporter)
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [(e["field"], e["code"]) for e in answer.json()["errors"]] == [
            (field, "out_of_area")
        ]
    activity = {"kind": "communication_session", "date": TODAY.isoformat(), "sessions": 1,
                "participants": 30, "area": ELSEWHERE}  # fmt: skip
    refused = post(platform, "/v1/activities", activity, commune_reporter)
    assert (refused.status_code, refused.json()["errors"][0]["field"]) == (403, "area.province")
    assert post(platform, "/v1/activities", activity | {"area": {"province": PROVINCE,
                "ward": WARD}}, commune_reporter).status_code == 202  # fmt: skip
    # nothing of the refused report was kept: sent within the area it is new, not a repeat
    inside = report("o-1")
    assert post(platform, "/v1/reports", inside, commune_reporter).status_code == 202


def _settled(platform: Services, case_id: str, token: str) -> dict[str, Any]:
    """The case as the caller sees it once verification has opened its task."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 15
    while True:
        case: dict[str, Any] = httpx.get(
            url(platform, Service.INTAKE, f"/v1/cases/{case_id}"), headers=headers
        ).json()
        if case["status"] != "received" or time.monotonic() > deadline:
            return case
        time.sleep(0.1)


def _shape(answer: Any, *ids: str) -> Any:
    """An answer with its ids and times left out, to compare two cases' answers."""
    if isinstance(answer, dict):
        volatile = {
            "case_id",
            "task_id",
            "event_id",
            "source_ref",
            "at",
            "due_on",
            "opened_at",
            "reminded_at",
            "self",
        }  # timers fire for each case on their own clock
        return {k: _shape(v, *ids) for k, v in answer.items() if k not in volatile}
    if isinstance(answer, list | tuple):
        return [_shape(item, *ids) for item in answer]
    return "<id>" if answer in ids else answer


def _answers(platform: Services, case_id: str, token: str) -> list[Any]:
    """Everything callers of the ward can ask about a case: intake, verification, support."""
    verifier = auth(platform, "verifier", PROVINCE, WARD)
    officer = auth(platform, "support_officer", PROVINCE, WARD)
    wait_for_support(platform, case_id, "being_identified")
    case = f"/v1/cases/{case_id}"
    asked = [
        httpx.get(url(platform, Service.VERIFICATION, f"{case}/verification"), headers=verifier),
        httpx.get(url(platform, Service.SUPPORT, f"{case}/entitlements"), headers=officer),
        httpx.get(url(platform, Service.SUPPORT, f"{case}/support"), headers=officer),
    ]
    return [_settled(platform, case_id, token)] + [(a.status_code, a.json()) for a in asked]


def test_posting_the_id_number_of_a_person_known_elsewhere_reveals_nothing(
    platform: Services, commune_reporter: str
) -> None:
    known_id = f"{zlib.crc32(b'known-elsewhere'):012d}"
    known_body = report("k-1", area=ELSEWHERE)
    known_body["person"]["id_number"] = known_id
    elsewhere = platform.token("reporter", ELSEWHERE["province"])
    known = post(platform, "/v1/reports", known_body, elsewhere).json()["case_id"]
    published(platform, Stream.CASES, "verification.opened", "case_id", known)

    probe_body, control_body = report("k-probe"), report("k-control")  # in the reporter's ward
    probe_body["person"]["id_number"] = known_id
    probe = post(platform, "/v1/reports", probe_body, commune_reporter)
    control = post(platform, "/v1/reports", control_body, commune_reporter)
    assert probe.status_code == control.status_code == 202
    probe_id, control_id = probe.json()["case_id"], control.json()["case_id"]
    assert _shape(probe.json()) == _shape(control.json())
    assert _shape(_answers(platform, probe_id, commune_reporter), probe_id) == _shape(
        _answers(platform, control_id, commune_reporter), control_id
    )

    # The match waits for a reviewer whose area covers both cases: a national verifier here.
    duplicates = url(platform, Service.INTAKE, "/v1/duplicates")
    national = auth(platform, "verifier")
    pair = {"case_id": probe_id, "candidate_case_id": known}
    listed = httpx.get(duplicates, headers=national).json()
    assert pair in [{k: d[k] for k in pair} for d in listed]
    for province in (PROVINCE, ELSEWHERE["province"]):
        theirs = httpx.get(duplicates, headers=auth(platform, "verifier", province)).json()
        assert pair not in [{k: d[k] for k in pair} for d in theirs]
    decide = url(platform, Service.INTAKE, f"/v1/cases/{probe_id}/duplicates/{known}")
    confirm = {"decision": "confirm"}
    provincial = auth(platform, "verifier", PROVINCE)
    assert httpx.post(decide, json=confirm, headers=provincial).status_code == 403
    assert httpx.post(decide, json=confirm, headers=national).status_code == 200

    # Only the confirmed merge changes what the ward sees, and never which case it joined.
    merged = _settled(platform, probe_id, commune_reporter)
    assert (merged["status"], merged["merged_into"]) == ("merged", None)
    assert merged["timeline"][-1] == {"event": "merged"}
    assert known not in str(merged)
    their_view = _settled(platform, known, elsewhere)
    assert (their_view["status"], their_view["duplicates"]) == ("being_identified", [])
    assert probe_id not in str(their_view)
    verifier = auth(platform, "verifier", PROVINCE, WARD)
    decision = url(platform, Service.VERIFICATION, f"/v1/cases/{probe_id}/decision")
    body = {"outcome": "victim", "decided_at": TODAY.isoformat(), "evidence": "police_certificate"}
    deadline = time.monotonic() + 15
    while (answer := httpx.post(decision, json=body, headers=verifier)).status_code != 409:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)
    assert "merged_into" not in answer.json()


def test_within_the_callers_area_the_same_id_number_still_merges_at_once(
    platform: Services, commune_reporter: str
) -> None:
    first, second = report("w-1"), report("w-2")
    second["person"]["id_number"] = first["person"]["id_number"]
    kept = post(platform, "/v1/reports", first, commune_reporter).json()["case_id"]
    answer = post(platform, "/v1/reports", second, commune_reporter).json()
    assert (answer["status"], answer["links"]["merged_into"]) == ("merged", f"/v1/cases/{kept}")


def test_a_provider_acts_only_on_referrals_addressed_to_its_agency(platform: Services) -> None:
    answer = post(platform, "/v1/reports", report("p-1"), platform.token("reporter"))
    case_id = answer.json()["case_id"]
    wait_for_support(platform, case_id, "being_identified")
    officer = Officer(platform, "support_officer", PROVINCE)
    asked = {"service": "child_protection", "provider": CTXH, "referred_at": TODAY.isoformat()}
    referral = officer.post(f"/v1/cases/{case_id}/referrals", asked)
    assert referral.status_code == 201, referral.text
    step = f"/v1/referrals/{referral.json()['referral_id']}/accept"
    body = {"on": TODAY.isoformat(), "note": "Đã tiếp nhận"}
    other = Officer(platform, "provider", PROVINCE, agency="Hội Liên hiệp Phụ nữ tỉnh Điện Biên")
    refused = other.post(step, body)
    assert refused.status_code == 404, refused.text  # as for a referral that does not exist
    assert refused.json() == other.post("/v1/referrals/no-such/accept", body).json()
    addressed = Officer(platform, "provider", PROVINCE, agency=CTXH.upper())  # case ignored
    accepted = addressed.post(step, body)
    assert (accepted.status_code, accepted.json()["status"]) == (200, "accepted"), accepted.text


def test_four_eyes_cannot_be_split_into_grants_under_the_threshold(platform: Services) -> None:
    case_id = old_regime_case(platform, "f-1", identified=True)
    officer, colleague = Officer(platform, "support_officer"), Officer(platform, "support_officer")

    def medical(by: Officer, amount: int, n: int) -> str:
        answer = by.grant(case_id, kind="medical_care", granted_at="2025-04-03", amount=amount,
                          receipt_ref=f"BV-{n}")  # fmt: skip
        assert answer.status_code == 201, answer.text
        status: str = answer.json()["status"]
        return status

    # 2,000,000 VND is the threshold: the first grant takes 1,500,000 of it
    assert medical(officer, 1_500_000, 1) == "approved"
    assert medical(officer, 500_000, 2) == "approved"  # 2,000,000 reached, not passed
    assert medical(officer, 1, 3) == "pending_approval"  # one dong more needs a second officer
    assert medical(colleague, 1_500_000, 4) == "approved"  # each officer's own grants count


def test_an_admin_of_a_province_changes_only_its_provinces_directory(platform: Services) -> None:
    agencies = url(platform, Service.NOTIFY, "/v1/agencies")
    provincial = auth(platform, "admin", PROVINCE)
    entry = {"name": "Công an xã Thanh Nưa", "kind": "commune_police", "province": PROVINCE,
             "ward": OTHER_WARD, "emails": ["congan.thanhnua@example.gov.vn"]}  # fmt: skip
    elsewhere = entry | {"province": ELSEWHERE["province"], "ward": ELSEWHERE["ward"]}
    national = entry | {"province": None, "ward": None}
    for body in (elsewhere, national):
        assert httpx.post(agencies, json=body, headers=provincial).status_code == 403
    theirs = httpx.post(agencies, json=elsewhere, headers=auth(platform, "admin"))
    assert theirs.status_code == 201, theirs.text
    their_entry = f"{agencies}/{theirs.json()['agency_id']}"
    assert httpx.put(their_entry, json=entry, headers=provincial).status_code == 403
    assert httpx.delete(their_entry, headers=provincial).status_code == 403
    assert httpx.post(agencies, json=entry, headers=provincial).status_code == 201
