"""The demo's Redis boundary against the five service processes: the submitter and stats are
refused with NOPERM, and a case.identified that support forges in verification's name is
dead-lettered by every service that follows it and applied by none."""

import re
import time

import httpx

from safereturn import demo_redis
from shared.names import Service
from shared.redis_acl import OPERATOR, SUBMITTER, with_credentials
from tests.e2e.conftest import Services, _passwords
from tests.e2e.test_reports import REPORT, post, report


def redis_urls(platform: Services) -> dict[str, str]:
    base = platform.env["SAFERETURN_REDIS_URL"]
    urls = {service: platform.env[f"SAFERETURN_{service.upper()}_REDIS_URL"] for service in Service}
    return urls | {name: with_credentials(base, name, _passwords()[name])
                   for name in (SUBMITTER, OPERATOR)}  # fmt: skip


def test_a_forged_event_is_refused_by_every_service(platform: Services) -> None:
    reporter = platform.token("reporter")
    body = report("forged-1", person={**REPORT["person"], "id_number": "079300000999"})
    case_id = post(platform, "/v1/reports", body, reporter).json()["case_id"]
    admin = {"Authorization": f"Bearer {platform.token('admin')}"}

    def status(service: Service) -> str | None:
        url = f"{platform.urls[service]}/v1/diagnostics/cases/{case_id}"
        answer: str | None = httpx.get(url, headers=admin).json().get("status")
        return answer

    deadline = time.monotonic() + 30
    while status(Service.SUPPORT) != "being_identified":
        assert time.monotonic() < deadline, "the case never reached support"
        time.sleep(0.2)
    lines: list[str] = []
    demo_redis.show_boundary(redis_urls(platform), case_id, lines.append, timeout=30)
    said = "\n".join(lines)
    assert said.count("no permissions") == 4, said
    refused = re.findall(r"(safereturn\.\w+) +dead-lettered it: ForgedEvent: case\.identified "
                         r"from /safereturn/verification is not signed", said)  # fmt: skip
    assert {f"safereturn.{s}" for s in Service} <= set(refused), said
    time.sleep(1)
    for service in (Service.VERIFICATION, Service.SUPPORT, Service.NOTIFY, Service.STATS):
        assert status(service) == "being_identified", service
