"""What the audit trail records of a write is what the caller got: a write endpoint answering
a refusal from inside its unit of work is on record as refused, with the status, not as a
success. One refused write of each service that has writes (stats has none)."""

from typing import Any

import httpx
import pytest

from shared.names import Service
from tests.e2e.conftest import Services
from tests.e2e.test_reports import TODAY
from tests.e2e.test_support import old_regime_case

REFUSED_WRITES = [  # service, role, province, method, route, body
    pytest.param(Service.VERIFICATION, "verifier", "08", "POST", "/v1/cases/{case_id}/decision",
                 {"outcome": "not_victim", "decided_at": TODAY.isoformat()},
                 id="verification-amends-without-a-reason"),
    pytest.param(Service.SUPPORT, "support_officer", "08", "POST", "/v1/cases/{case_id}/closure",
                 {"reason": "other", "closed_on": "2020-01-01"},
                 id="support-closes-before-reception"),
    pytest.param(Service.NOTIFY, "admin", None, "DELETE", "/v1/agencies/{agency_id}", None,
                 id="notify-removes-an-unknown-agency"),
    pytest.param(Service.INTAKE, "admin", None, "POST", "/v1/clients/{client_id}/revoke", None,
                 id="intake-revokes-an-unknown-client"),
]  # fmt: skip


@pytest.fixture(scope="module")
def case_id(platform: Services) -> str:
    return old_regime_case(platform, "audit-refusals", identified=True)


@pytest.mark.parametrize(("service", "role", "province", "method", "path", "body"),
                         REFUSED_WRITES)  # fmt: skip
def test_a_refused_write_is_audited_as_refused_with_its_status(
    platform: Services, case_id: str, service: Service, role: str, province: str | None,
    method: str, path: str, body: dict[str, Any] | None,
) -> None:  # fmt: skip
    client_id, secret = platform.new_client(role, province)
    headers = {"Authorization": f"Bearer {platform.token_for(client_id, secret)}"}
    url = platform.urls[service]
    answer = httpx.request(
        method,
        f"{url}{path.format(case_id=case_id, agency_id='none', client_id='sr-none')}",
        json=body,
        headers=headers,
        timeout=30,
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    records = httpx.get(
        f"{url}/v1/audit", params={"client_id": client_id}, headers=platform.auth("auditor"),
        timeout=30,
    ).json()["records"]  # fmt: skip
    writes = [(r["outcome"], r["status"]) for r in records if r["action"] == f"{method} {path}"]
    assert writes == [("rejected", answer.status_code)]
