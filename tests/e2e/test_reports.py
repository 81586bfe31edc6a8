"""Reports through intake's HTTP API, on running services: accepted, idempotent, validated,
scoped by area, and never leaking personal data to the database in clear or to a stream."""

import copy
import json
import sqlite3
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import redis as redis_py

from services.intake.reports.domain import age_on
from shared.events.base import business_today
from shared.events.envelope import from_fields
from shared.names import Service, Stream
from tests.e2e.conftest import Services

NAME, ID_NUMBER, PHONE = "Lò Thị Mai", "011209001234", "+84 912 345 678"
TODAY = business_today()
RECEIVED = TODAY - timedelta(days=2)  # dates stay valid whenever the tests run
BIRTH = date(2009, 3, 14)

REPORT: dict[str, Any] = {
    "source_ref": "111-2026-000123",
    "channel": "hotline_111",
    "received_at": RECEIVED.isoformat(),
    "area": {"province": "11", "ward": "03325"},
    "reception_form": "self_returned",
    "person": {
        "full_name": NAME,
        "sex": "female",
        "birth_date": BIRTH.isoformat(),
        "ethnicity": "08",
        "nationality": "VN",
        "id_number": ID_NUMBER,
        "phone": PHONE,
    },
    "trafficking": {"scope": "abroad", "destination_country": "CN",
                    "purposes": ["forced_marriage"]},
    "accompanying_minors": [{"sex": "male", "age": 2}],
    "consent": {"services": True, "information_sharing": True, "statistics": True,
                "recorded_by": "Cán bộ xã Mường Phăng", "recorded_at": RECEIVED.isoformat()},
}  # fmt: skip


def report(source_ref: str, **changes: Any) -> dict[str, Any]:
    """A valid report; each source_ref reports a different person unless told otherwise."""
    body = copy.deepcopy(REPORT) | {"source_ref": source_ref}
    body["person"]["id_number"] = f"{zlib.crc32(source_ref.encode()):012d}"
    for key, value in changes.items():
        body[key] = value
    return body


def post(platform: Services, path: str, body: object, token: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    if isinstance(body, bytes):
        return httpx.post(f"{platform.urls[Service.INTAKE]}{path}", content=body,
                          headers={"content-type": "application/json", **headers})  # fmt: skip
    return httpx.post(f"{platform.urls[Service.INTAKE]}{path}", json=body, headers=headers)


@pytest.fixture(scope="module")
def reporter(platform: Services) -> str:
    return platform.token("reporter")


def events(platform: Services, stream: str, event_type: str) -> list[dict[str, Any]]:
    client = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"])
    try:
        entries = client.xrange(stream)
    finally:
        client.close()
    decoded = [from_fields(fields) for _, fields in entries]
    return [
        {"subject": e.get_subject(), "event_id": e.get_id(), **json.loads(str(e.get_data()))}
        for e in decoded
        if e.get_type() == event_type
    ]


def published(
    platform: Services, stream: str, event_type: str, key: str, value: str
) -> dict[str, Any]:
    """The one event with ``key == value``, once the outbox relay has published it."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [e for e in events(platform, stream, event_type) if e[key] == value]
        if found:
            (event,) = found
            return event
        time.sleep(0.05)
    raise AssertionError(f"no {event_type} with {key}={value}")


def test_a_report_becomes_a_case_and_a_repeat_returns_it(platform: Services, reporter: str) -> None:
    first = post(platform, "/v1/reports", report("r-1"), reporter)
    assert first.status_code == 202, first.text
    case_id = first.json()["case_id"]
    received = published(platform, Stream.CASES, "case.received", "case_id", case_id)
    assert first.json() == {"case_id": case_id, "status": "received",
                            "links": {"self": f"/v1/cases/{case_id}"},
                            "event_id": received["event_id"]}  # fmt: skip
    repeat = post(platform, "/v1/reports", report("r-1"), reporter)
    assert (repeat.status_code, repeat.json()["case_id"]) == (200, case_id)
    assert repeat.json()["event_id"] is None  # nothing new was made

    case = httpx.get(f"{platform.urls[Service.INTAKE]}/v1/cases/{case_id}",
                     headers={"Authorization": f"Bearer {reporter}"}).json()  # fmt: skip
    assert (case["province"], case["ward"]) == ("11", "03325")
    assert case["status"] in {"received", "being_identified"}  # verification may be quick
    assert [p["role"] for p in case["persons"]] == ["subject", "accompanying_minor"]
    assert case["persons"][0]["age"] == age_on(BIRTH, RECEIVED)
    assert NAME not in json.dumps(case, ensure_ascii=False)

    received = published(platform, Stream.CASES, "case.received", "subject", case_id)
    assert received["reception_form"] == "self_returned"
    assert (received["sex"], received["ethnicity"]) == ("female", "08")
    assert received["age"] == age_on(BIRTH, RECEIVED)
    assert received["destination_country"] == "CN"
    assert received["accompanying_minors"] == 1
    assert received["consent"] == {"services": True, "information_sharing": True,
                                   "statistics": True}  # fmt: skip


def test_concurrent_repeats_make_one_case(platform: Services, reporter: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(platform, "/v1/reports", report("r-race"), reporter),
                                range(8)))  # fmt: skip
    assert sorted(a.status_code for a in answers) == [200] * 7 + [202]
    (case_id,) = {a.json()["case_id"] for a in answers}
    published(platform, Stream.CASES, "case.received", "subject", case_id)  # exactly one


def test_a_bad_report_names_every_offending_field_and_nothing_is_kept(
    platform: Services, reporter: str
) -> None:
    before = len(events(platform, Stream.CASES, "case.received"))
    body = report(
        "r-bad",
        channel="fax",
        received_at="2999-01-01",
        area={"province": "99"},
        extra="x",
        person={**REPORT["person"], "ethnicity": "77", "nationality": "XX", "sex": 1},
        consent={**REPORT["consent"], "statistics": "yes"},
    )
    answer = post(platform, "/v1/reports", body, reporter)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    fields = {error["field"] for error in answer.json()["errors"]}
    assert {"channel", "received_at", "area", "extra", "person.ethnicity", "person.nationality",
            "person.sex", "consent.statistics"} <= fields  # fmt: skip
    assert NAME not in answer.text
    assert ID_NUMBER not in answer.text
    assert len(events(platform, Stream.CASES, "case.received")) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"person": {**REPORT["person"], "birth_date": TODAY.isoformat()}}, "person.birth_date"),
        ({"area": {"province": "11", "ward": "00001"}}, "area.ward"),
        ({"accompanying_minors": [{"sex": "male", "birth_date": "2001-01-01"}]},
         "accompanying_minors.0.birth_date"),
        ({"trafficking": {"scope": "domestic", "destination_country": "CN"}},
         "trafficking.destination_country"),
        ({"area": {"legacy_address": "Nowhere at all"}}, "area.legacy_address"),
        ({"trafficking": {"scope": "abroad", "left_on": "2026-05-01", "returned_on": "2026-04-01"}},
         "trafficking.returned_on"),
        ({"note": "a\u0000b"}, "note"),
    ],
)  # fmt: skip
def test_rules_across_fields_are_checked(
    platform: Services, reporter: str, changes: dict[str, Any], field: str
) -> None:
    answer = post(platform, "/v1/reports", report("r-rule", **changes), reporter)
    assert answer.status_code == 422, answer.text
    assert field in {error["field"] for error in answer.json()["errors"]}


def test_transport_errors_are_problems(platform: Services, reporter: str) -> None:
    invalid_json = post(platform, "/v1/reports", b"{not json", reporter)
    assert invalid_json.status_code == 422
    wrong_type = post(
        platform, "/v1/reports", b"{}", reporter, headers={"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    too_big = post(platform, "/v1/reports", b"[" + b"1," * 200_000 + b"1]", reporter)
    assert too_big.status_code == 413
    for answer in (invalid_json, wrong_type, too_big):
        assert answer.headers["content-type"] == "application/problem+json"


def test_a_legacy_address_is_converted_to_the_2025_units(platform: Services, reporter: str) -> None:
    body = report(
        "r-legacy", area={"legacy_address": "Xã Mường Phăng, Huyện Điện Biên, Tỉnh Điện Biên"}
    )
    answer = post(platform, "/v1/reports", body, reporter)
    assert answer.status_code == 202, answer.text
    case = httpx.get(f"{platform.urls[Service.INTAKE]}/v1/cases/{answer.json()['case_id']}",
                     headers={"Authorization": f"Bearer {reporter}"}).json()  # fmt: skip
    assert (case["province"], case["ward"]) == ("11", "03325")
    by_code = report("r-legacy-code", area={"legacy_ward_code": "03325"})
    answer = post(platform, "/v1/reports", by_code, reporter)
    assert answer.status_code == 202, answer.text
    nowhere = report("r-legacy-x", area={"legacy_ward_code": "99999"})
    unknown = post(platform, "/v1/reports", nowhere, reporter)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "area.legacy_ward_code"


def test_a_case_is_seen_only_within_the_callers_area(platform: Services, reporter: str) -> None:
    def case(source_ref: str, area: dict[str, str]) -> str:
        body = report(source_ref, area=area)
        case_id: str = post(platform, "/v1/reports", body, reporter).json()["case_id"]
        return case_id

    here = case("r-area-1", {"province": "11", "ward": "03325"})
    there = case("r-area-2", {"province": "11", "ward": "03334"})
    elsewhere = case("r-area-3", {"province": "01"})
    commune = platform.token("verifier", "11", "03325")
    province = platform.token("verifier", "11")

    def status(token: str, case_id: str) -> int:
        return httpx.get(f"{platform.urls[Service.INTAKE]}/v1/cases/{case_id}",
                         headers={"Authorization": f"Bearer {token}"}).status_code  # fmt: skip

    assert [status(commune, c) for c in (here, there, elsewhere)] == [200, 403, 403]
    assert [status(province, c) for c in (here, there, elsewhere)] == [200, 200, 403]
    refused = httpx.get(f"{platform.urls[Service.INTAKE]}/v1/cases/{there}",
                        headers={"Authorization": f"Bearer {commune}"})  # fmt: skip
    assert refused.json()["title"] == "The case is outside the client's area"


def test_an_activity_is_reported(platform: Services, reporter: str) -> None:
    body = {"kind": "communication_session", "date": RECEIVED.isoformat(),
            "area": {"province": "11", "ward": "03325"}, "sessions": 2, "participants": 140,
            "leaflets": 300, "note": "Tuyên truyền tại chợ phiên"}  # fmt: skip
    answer = post(platform, "/v1/activities", body, reporter)
    assert answer.status_code == 202, answer.text
    activity_id = answer.json()["activity_id"]
    reported = published(
        platform, Stream.ACTIVITIES, "activity.reported", "activity_id", activity_id
    )
    assert (reported["sessions"], reported["participants"], reported["leaflets"]) == (2, 140, 300)
    assert "note" not in reported


def test_catalogues_carry_codes_and_vietnamese_labels(platform: Services, reporter: str) -> None:
    def get(name: str) -> httpx.Response:
        return httpx.get(f"{platform.urls[Service.INTAKE]}/v1/catalogues/{name}",
                         headers={"Authorization": f"Bearer {reporter}"})  # fmt: skip

    ethnic = {e["code"]: e["label"] for e in get("ethnic_groups").json()["entries"]}
    assert len(ethnic) == 54
    assert ethnic["01"] == "Kinh"
    countries = {e["code"]: e["label"] for e in get("countries").json()["entries"]}
    assert countries["CN"] == "Trung Quốc"
    assert get("nothing").status_code == 404


def test_personal_data_is_sealed_at_rest_and_never_on_a_stream(
    platform: Services, reporter: str
) -> None:
    body = report("r-pii", person=REPORT["person"])  # the name, ID number and phone above
    assert post(platform, "/v1/reports", body, reporter).status_code in {200, 202}
    for path in platform.logs.glob("intake.db*"):
        content = path.read_bytes()
        for secret in (NAME, ID_NUMBER, PHONE, "Mường Phăng"):
            assert secret.encode() not in content, f"{secret!r} in clear in {path.name}"
    client = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"])
    try:
        everything = b"".join(
            b"".join(b"".join(fields.values()) for _, fields in client.xrange(key))
            for key in client.scan_iter(_type="stream")
        )
    finally:
        client.close()
    for secret in (NAME, ID_NUMBER, PHONE):
        assert secret.encode() not in everything


def person(name: str, birth: str, id_number: str | None = None) -> dict[str, Any]:
    return {"full_name": name, "sex": "female", "birth_date": birth, "ethnicity": "03",
            "nationality": "VN", **({"id_number": id_number} if id_number else {})}  # fmt: skip


def test_the_same_id_number_links_the_second_report_to_the_first_case(
    platform: Services, reporter: str
) -> None:
    hotline = post(platform, "/v1/reports",
                   report("d-1", person=person("Giàng Thị Say", "2004-02-02", "011204009999")),
                   reporter).json()["case_id"]  # fmt: skip
    commune = post(platform, "/v1/reports",
                   report("d-2", channel="commune",
                          person=person("Giang Thi Say", "2004-02-02", "011204009999")),
                   reporter)  # fmt: skip
    assert commune.status_code == 202
    assert commune.json()["status"] == "merged"
    assert commune.json()["links"]["merged_into"] == f"/v1/cases/{hotline}"
    merged = published(platform, Stream.CASES, "case.merged", "subject", commune.json()["case_id"])
    assert (merged["into"], merged["method"]) == (hotline, "id_number")
    assert commune.json()["event_id"] == merged["event_id"]
    received = [e for e in events(platform, Stream.CASES, "case.received")
                if e["subject"] == commune.json()["case_id"]]  # fmt: skip
    assert received == [], "a merged report is not a second person"


def test_a_similar_name_is_flagged_and_a_person_decides(platform: Services, reporter: str) -> None:
    first = post(platform, "/v1/reports",
                 report("d-3", person=person("Nguyễn Thị Hoa", "2005-05-05")),
                 reporter).json()["case_id"]  # fmt: skip
    second = post(platform, "/v1/reports",
                  report("d-4", area={"province": "11", "ward": "03334"},
                         person=person("Nguyen Thi  Hoa", "2005-05-05")),
                  reporter).json()["case_id"]  # fmt: skip
    other = post(platform, "/v1/reports",
                 report("d-5", person=person("Trần Văn Bình", "2005-05-05")),
                 reporter).json()["case_id"]  # fmt: skip
    suspected = published(platform, Stream.CASES, "case.duplicate_suspected", "subject", second)
    assert suspected["candidate_case_id"] == first
    assert suspected["score"] >= 85
    assert not [e for e in events(platform, Stream.CASES, "case.duplicate_suspected")
                if e["subject"] == other]  # fmt: skip

    verifier = {"Authorization": f"Bearer {platform.token('verifier', '11')}"}
    url = f"{platform.urls[Service.INTAKE]}/v1/cases/{second}/duplicates/{first}"
    commune = {"Authorization": f"Bearer {platform.token('verifier', '11', '03325')}"}
    assert httpx.post(url, json={"decision": "confirm"}, headers=commune).status_code == 403
    confirmed = httpx.post(url, json={"decision": "confirm"}, headers=verifier)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["merged_into"] == first
    assert [e["event"] for e in confirmed.json()["timeline"]] == [
        "received", "duplicate_suspected", "duplicate_confirmed", "merged",
    ]  # fmt: skip
    merged = published(platform, Stream.CASES, "case.merged", "subject", second)
    assert (merged["into"], merged["method"]) == (first, "review")
    again = httpx.post(url, json={"decision": "reject"}, headers=verifier)
    assert again.status_code == 409
    auditor = {"Authorization": f"Bearer {platform.token('auditor')}"}
    decisions = httpx.get(
        f"{platform.urls[Service.INTAKE]}/v1/audit",
        headers=auditor,
        params={
            "case_id": second,
            "action": "POST /v1/cases/{case_id}/duplicates/{candidate_case_id}",
        },
    ).json()["records"]
    assert [r["outcome"] for r in decisions] == ["denied", "success", "rejected"]


def test_a_contact_is_opened_for_the_right_role_and_every_read_is_on_record(
    platform: Services, reporter: str
) -> None:
    body = report("c-1", person={**REPORT["person"], "id_number": "079300000001"})
    case_id = post(platform, "/v1/reports", body, reporter).json()["case_id"]
    url = f"{platform.urls[Service.INTAKE]}/v1/cases/{case_id}/contact"
    service = httpx.get(url, headers={"Authorization": f"Bearer {platform.token('service')}"})
    assert service.status_code == 200
    assert (service.json()["full_name"], service.json()["phone"]) == (NAME, PHONE)
    assert service.json()["consent"]["services"] is True
    denied = httpx.get(url, headers={"Authorization": f"Bearer {reporter}"})
    assert denied.status_code == 403
    auditor = {"Authorization": f"Bearer {platform.token('auditor')}"}
    records = httpx.get(
        f"{platform.urls[Service.INTAKE]}/v1/audit",
        headers=auditor,
        params={"case_id": case_id, "action": "GET /v1/cases/{case_id}/contact"},
    ).json()["records"]
    assert [(r["role"], r["outcome"]) for r in records] == [("service", "success"),
                                                             ("reporter", "denied")]  # fmt: skip
    assert NAME not in json.dumps(records, ensure_ascii=False)


def test_rotating_the_vault_key_reseals_everything_and_keeps_it_readable(
    platform: Services, reporter: str
) -> None:
    body = report("v-1", person={**REPORT["person"], "id_number": "079300000002"})
    case_id = post(platform, "/v1/reports", body, reporter).json()["case_id"]
    rotated = subprocess.run(
        [sys.executable, "-m", "safereturn", "vault", "rotate"],
        env=platform.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    active = json.loads((platform.logs / "intake-vault.json").read_text())["active"]
    assert f"vault key {active} is active" in rotated.stdout
    with sqlite3.connect(platform.logs / "intake.db") as connection:
        keys = {row[0].split(".")[0] for row in connection.execute("SELECT sealed FROM cases")}
    assert keys == {active}
    contact = httpx.get(
        f"{platform.urls[Service.INTAKE]}/v1/cases/{case_id}/contact",
        headers={"Authorization": f"Bearer {platform.token('service')}"},
    )
    assert contact.status_code == 200
    assert contact.json()["full_name"] == NAME


def test_case_events_reach_every_other_service(platform: Services, reporter: str) -> None:
    first = post(platform, "/v1/reports",
                 report("e-1", person={**REPORT["person"], "id_number": "079300000003"}),
                 reporter).json()["case_id"]  # fmt: skip
    second = post(platform, "/v1/reports",
                  report("e-2", person={**REPORT["person"], "id_number": "079300000003"}),
                  reporter).json()["case_id"]  # fmt: skip
    admin = {"Authorization": f"Bearer {platform.token('admin')}"}
    for service in (Service.VERIFICATION, Service.SUPPORT, Service.NOTIFY, Service.STATS):
        for case_id, status in ((first, "being_identified"), (second, "merged")):
            url = f"{platform.urls[service]}/v1/diagnostics/cases/{case_id}"
            deadline = time.monotonic() + 15
            while httpx.get(url, headers=admin).json().get("status") != status:
                assert time.monotonic() < deadline, f"{service}: {case_id} never {status}"
                time.sleep(0.1)
        register = httpx.get(f"{platform.urls[service]}/v1/diagnostics/cases/{first}",
                             headers=admin).json()  # fmt: skip
        assert (register["province"], register["ward"]) == ("11", "03325")
        assert register["consent_statistics"] is True


def test_simultaneous_reports_of_one_id_number_make_one_person(
    platform: Services, reporter: str
) -> None:
    same_person = {**REPORT["person"], "id_number": "079300000004"}
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(
                lambda n: post(platform, "/v1/reports", report(f"p-{n}", person=same_person),
                               reporter),
                range(6),
            )
        )  # fmt: skip
    assert [a.status_code for a in answers] == [202] * 6, [a.text for a in answers]
    assert sorted(a.json()["status"] for a in answers) == ["merged"] * 5 + ["received"]
