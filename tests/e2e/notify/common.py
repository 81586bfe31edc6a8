"""What the notify end-to-end modules share: the agencies of Xã Mường Phăng and of Điện Biên
(and Lai Châu's police, who must hear nothing), the real peers notify sends to, and the reads
that wait for what they receive."""

import time
from collections.abc import Callable
from typing import Any

import httpx

from safereturn.sinks import HttpSink, SmtpSink, bodies
from shared.names import Service
from tests.e2e.conftest import Services
from tests.e2e.test_reports import ID_NUMBER, NAME, PHONE, report

WARD, PROVINCE = "03325", "11"
AGENCIES = [
    {"name": "Công an xã Mường Phăng", "kind": "commune_police", "province": PROVINCE,
     "ward": WARD, "emails": ["congan.muongphang@example.vn"], "phones": ["+84 200 000 001"]},
    {"name": "UBND xã Mường Phăng", "kind": "commune_committee", "province": PROVINCE,
     "ward": WARD, "emails": ["ubnd.muongphang@example.vn"]},
    {"name": "Sở Y tế Điện Biên", "kind": "social_protection", "province": PROVINCE,
     "emails": ["syt@example.vn"]},
    {"name": "Trung tâm CTXH Điện Biên", "kind": "child_protection", "province": PROVINCE,
     "emails": ["ctxh@example.vn"]},
    {"name": "Công an tỉnh Điện Biên", "kind": "provincial_police", "province": PROVINCE,
     "emails": ["catinh@example.vn"], "language": "en"},
    {"name": "Công an tỉnh Lai Châu", "kind": "provincial_police", "province": "12",
     "emails": ["laichau@example.vn"]},
]  # fmt: skip


class Peers:
    """The SMTP server, the integrators' webhook receiver and the SMS gateway (each its own
    endpoint, as circuit breakers see them)."""

    def __init__(self, smtp: SmtpSink, http: HttpSink, sms: HttpSink) -> None:
        self.smtp, self.http, self.sms = smtp, http, sms


def eventually(found: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := found():
            return value
        time.sleep(0.1)
    raise AssertionError("never happened")


def new_case(platform: Services, ref: str, **changes: Any) -> str:
    answer = httpx.post(f"{platform.urls[Service.INTAKE]}/v1/reports", json=report(ref, **changes),
                        headers=platform.auth("reporter"))  # fmt: skip
    assert answer.status_code == 202, answer.text
    case_id: str = answer.json()["case_id"]
    return case_id


def mails_about(peers: Peers, case_id: str, at_least: int) -> list[Any] | None:
    found = [m for m in peers.smtp.messages if case_id in m.get_content()]
    return found if len(found) >= at_least else None


def hooks_about(peers: Peers, path: str, case_id: str, at_least: int = 1) -> list[Any] | None:
    found = [r for r in peers.http.at(path) if r.json().get("subject") == case_id]
    return found if len(found) >= at_least else None


def log_of(platform: Services, case_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{platform.urls[Service.NOTIFY]}/v1/notifications",
                       params={"case_id": case_id}, headers=platform.auth())  # fmt: skip
    found: list[dict[str, Any]] = answer.json()["notifications"]
    return found


def assert_no_identity(peers: Peers) -> None:
    """Nothing the peers have received carries the person's name, ID number or phone."""
    texts = bodies(peers.smtp.messages) + [str(m["Subject"]) for m in peers.smtp.messages]
    texts += [r.body.decode() for r in peers.http.received]
    texts += [r.json()["text"] for r in peers.sms.at("/sms")]  # "to" is the gateway's address
    assert len(texts) > 10
    for text in texts:
        for secret in (NAME, ID_NUMBER, PHONE):
            assert secret not in text
