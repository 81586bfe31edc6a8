"""A merged case answers the same at every service: 409, naming the kept case to a caller who
may see it — whether it was merged at intake (never received) or later, by a reviewer."""

import time
import zlib
from collections.abc import Callable

import httpx
import pytest

from shared.names import Service, Stream
from tests.e2e.conftest import Services
from tests.e2e.test_reports import TODAY, person, post, published, report
from tests.e2e.test_verification import OTHER_WARD


@pytest.fixture(scope="module")
def reporter(platform: Services) -> str:
    return platform.token("reporter")


def registered_as_merged(platform: Services, case_id: str) -> None:
    admin = {"Authorization": f"Bearer {platform.token('admin')}"}
    for service in (Service.VERIFICATION, Service.SUPPORT):
        url = f"{platform.urls[service]}/v1/diagnostics/cases/{case_id}"
        deadline = time.monotonic() + 15
        while httpx.get(url, headers=admin).json().get("status") != "merged":
            assert time.monotonic() < deadline, f"{service} never heard {case_id} was merged"
            time.sleep(0.1)


def acting_on(platform: Services, case_id: str, **area: str) -> list[httpx.Response]:
    """A decision, a protection order, a grant and the entitlements, on ``case_id``, by
    officers of ``area``."""
    verifier = {"Authorization": f"Bearer {platform.token('verifier', **area)}"}
    officer = {"Authorization": f"Bearer {platform.token('support_officer', **area)}"}
    verification, support = platform.urls[Service.VERIFICATION], platform.urls[Service.SUPPORT]
    case = f"/v1/cases/{case_id}"
    return [
        httpx.post(
            f"{verification}{case}/decision",
            headers=verifier,
            json={
                "outcome": "victim",
                "decided_at": TODAY.isoformat(),
                "evidence": "police_certificate",
            },
        ),
        httpx.post(
            f"{verification}{case}/protection",
            headers=verifier,
            json={
                "measures": ["guard"],
                "starts_on": TODAY.isoformat(),
                "protected": [{"relation": "victim", "count": 1}],
            },
        ),
        httpx.post(
            f"{support}{case}/grants",
            headers=officer,
            json={"kind": "clothing", "quantity": 1, "granted_at": TODAY.isoformat()},
        ),
        httpx.get(f"{support}{case}/entitlements", headers=officer),
    ]


def merged_at_intake(
    platform: Services, reporter: str, ref: str = "m-1", ward: str = "03325"
) -> tuple[str, str]:
    who = person("Lò Thị Mai", "2003-03-03", f"{zlib.crc32(ref.encode()):012d}")
    kept = post(platform, "/v1/reports", report(f"{ref}-kept", person=who), reporter).json()[
        "case_id"
    ]
    merged = post(
        platform,
        "/v1/reports",
        report(ref, person=who, area={"province": "11", "ward": ward}),
        reporter,
    ).json()
    assert merged["status"] == "merged"
    return merged["case_id"], kept


def merged_by_review(platform: Services, reporter: str) -> tuple[str, str]:
    first = post(
        platform, "/v1/reports", report("m-3", person=person("Vàng Thị Dợ", "2001-01-09")), reporter
    ).json()["case_id"]
    second = post(
        platform, "/v1/reports", report("m-4", person=person("Vang Thi Do", "2001-01-09")), reporter
    ).json()["case_id"]
    published(platform, Stream.CASES, "case.duplicate_suspected", "subject", second)
    url = f"{platform.urls[Service.INTAKE]}/v1/cases/{second}/duplicates/{first}"
    verifier = {"Authorization": f"Bearer {platform.token('verifier', '11')}"}
    assert httpx.post(url, json={"decision": "confirm"}, headers=verifier).status_code == 200
    return second, first


@pytest.mark.parametrize("merge", [merged_at_intake, merged_by_review])
def test_every_service_answers_409_naming_the_kept_case(
    platform: Services, reporter: str, merge: Callable[[Services, str], tuple[str, str]]
) -> None:
    merged, kept = merge(platform, reporter)
    registered_as_merged(platform, merged)
    for answer in acting_on(platform, merged, province="11"):
        assert answer.status_code == 409, (answer.request.url, answer.text)
        assert answer.json()["merged_into"] == kept


def test_a_caller_who_cannot_see_the_kept_case_is_not_told_which_it_is(
    platform: Services, reporter: str
) -> None:
    merged, _ = merged_at_intake(platform, reporter, "m-5", ward=OTHER_WARD)  # kept in 03325
    registered_as_merged(platform, merged)
    for answer in acting_on(platform, merged, province="11", ward=OTHER_WARD):
        assert answer.status_code == 409, (answer.request.url, answer.text)
        assert "merged_into" not in answer.json()
    elsewhere = acting_on(platform, merged, province="11", ward="03325")
    assert [answer.status_code for answer in elsewhere] == [403] * 4
