"""The submissions stream: the HTTP path's rules for systems that publish instead of call."""

import json
import time
from typing import Any

import httpx
import redis as redis_py

from safereturn.submitting import fetch_encryption_key, submission_fields
from shared.events.envelope import from_fields
from shared.names import Service, Stream
from tests.e2e.conftest import Services
from tests.e2e.test_reports import ID_NUMBER, NAME, PHONE, RECEIVED, events, report


def submit(platform: Services, event_type: str, data: object, token: str | None) -> str:
    """As an agency system: the body encrypted to the key intake publishes in its JWKS."""
    key = fetch_encryption_key(platform.urls[Service.INTAKE])
    fields = submission_fields(event_type, data, token, key, event_id=f"sub-{time.monotonic_ns()}",
                               source="/agency/hotline-111")  # fmt: skip
    client = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"])
    try:
        client.xadd(Stream.SUBMISSIONS, fields)
    finally:
        client.close()
    return fields["id"]


def rejection(platform: Services, submission_id: str, wait: float = 15.0) -> dict[str, Any]:
    client = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"])
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            for _, fields in client.xrange(Stream.SUBMISSIONS_REJECTED):
                event = from_fields(fields)
                if event.get_subject() == submission_id:
                    return {"raw": b" ".join(fields.values()), **json.loads(str(event.get_data()))}
            time.sleep(0.1)
    finally:
        client.close()
    raise AssertionError(f"no rejection for {submission_id}")


def case_of(platform: Services, token: str, source_ref: str) -> httpx.Response:
    """The HTTP path is idempotent on the same key: a repeat answers with the stream's case."""
    return httpx.post(
        f"{platform.urls[Service.INTAKE]}/v1/reports",
        json=report(source_ref),
        headers={"Authorization": f"Bearer {token}"},
    )


def admitted_case(platform: Services, submitter: str, wait: float = 15.0) -> str:
    auditor = {"Authorization": f"Bearer {platform.token('auditor')}"}
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        records = httpx.get(
            f"{platform.urls[Service.INTAKE]}/v1/audit",
            headers=auditor,
            params={"action": "stream report.submitted", "client_id": submitter,
                    "outcome": "success"},
        ).json()["records"]  # fmt: skip
        if records:
            case_id: str = records[-1]["case_id"]
            return case_id
        time.sleep(0.2)
    raise AssertionError("the submission was never admitted")


def test_a_valid_submission_is_admitted_like_an_http_report(platform: Services) -> None:
    client_id, secret = platform.new_client("reporter")
    token = platform.token_for(client_id, secret)
    submit(platform, "report.submitted", report("s-1"), token)
    case_id = admitted_case(platform, client_id)
    repeat = case_of(platform, token, "s-1")
    assert (repeat.status_code, repeat.json()["case_id"]) == (200, case_id)
    client = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"])
    try:
        leftovers = b" ".join(b" ".join(f.values()) for _, f in client.xrange(Stream.SUBMISSIONS))
    finally:
        client.close()
    assert NAME.encode() not in leftovers, "a committed submission is deleted from the stream"


def test_invalid_submissions_are_rejected_with_reasons_and_kept_sealed(platform: Services) -> None:
    reporter, analyst = platform.token("reporter"), platform.token("analyst")
    bad_body = rejection(platform, submit(platform, "report.submitted",
                                          report("s-2", channel="fax"), reporter))  # fmt: skip
    assert {r["field"] for r in bad_body["reasons"]} == {"channel"}
    assert bad_body["sealed_original"]
    for secret in (NAME, ID_NUMBER, PHONE):
        assert secret.encode() not in bad_body["raw"]

    no_token = rejection(platform, submit(platform, "report.submitted", report("s-3"), None))
    assert no_token["reasons"][0]["code"] == "unauthenticated"
    wrong_role = rejection(platform, submit(platform, "report.submitted", report("s-4"), analyst))
    assert wrong_role["reasons"][0]["code"] == "forbidden"
    not_json = rejection(platform, submit(platform, "activity.submitted", "{oops", reporter))
    assert not_json["reasons"][0]["code"] == "json_invalid"
    assert case_of(platform, reporter, "s-3").status_code == 202  # nothing was admitted for it


def test_a_refused_submission_can_be_sent_again_under_the_same_id(platform: Services) -> None:
    client_id, secret = platform.new_client("reporter")
    token = platform.token_for(client_id, secret)
    fields_id = submit(platform, "report.submitted", report("s-again"), None)
    assert rejection(platform, fields_id)["reasons"][0]["code"] == "unauthenticated"
    resend(platform, fields_id, "report.submitted", report("s-again"), token)
    case_id = admitted_case(platform, client_id)
    assert case_of(platform, token, "s-again").json()["case_id"] == case_id


def test_an_unknown_type_is_refused_not_ignored(platform: Services) -> None:
    refused = rejection(
        platform, submit(platform, "report.amended", report("s-5"), platform.token("reporter"))
    )
    assert refused["reasons"][0]["code"] == "unknown_type"
    assert refused["submission_type"] == "report.amended"


def resend(platform: Services, event_id: str, event_type: str, data: object, token: str) -> None:
    key = fetch_encryption_key(platform.urls[Service.INTAKE])
    fields = submission_fields(event_type, data, token, key, event_id=event_id,
                               source="/agency/hotline-111")  # fmt: skip
    client = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"])
    try:
        client.xadd(Stream.SUBMISSIONS, fields)
    finally:
        client.close()


def test_a_submission_sent_again_under_its_id_has_no_second_effect(platform: Services) -> None:
    """An agency resending an admitted submission (same id, same content) gets no second
    activity; the same id with other content is refused, as the id is spent."""
    token = platform.token("reporter")
    activity = {"kind": "training", "date": RECEIVED.isoformat(), "sessions": 1,
                "area": {"province": "11", "ward": "03325"}, "participants": 12}  # fmt: skip
    submission_id = submit(platform, "activity.submitted", activity, token)
    for _ in range(2):
        resend(platform, submission_id, "activity.submitted", activity, token)
    resend(platform, submission_id, "activity.submitted", activity | {"participants": 99}, token)
    assert rejection(platform, submission_id)["reasons"][0]["code"] == "id_reused"
    deadline = time.monotonic() + 15
    while not _reported(platform) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # time for a second one, were there one
    assert [e["participants"] for e in _reported(platform)] == [12]
    rejected = [r for r in _rejections(platform) if r["submission_id"] == submission_id]
    assert len(rejected) == 1


def _reported(platform: Services) -> list[dict[str, Any]]:
    found = events(platform, Stream.ACTIVITIES, "activity.reported")
    return [e for e in found if e["participants"] in (12, 99)]


def _rejections(platform: Services) -> list[dict[str, Any]]:
    client = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"])
    try:
        entries = client.xrange(Stream.SUBMISSIONS_REJECTED)
    finally:
        client.close()
    return [json.loads(str(from_fields(fields).get_data())) for _, fields in entries]
