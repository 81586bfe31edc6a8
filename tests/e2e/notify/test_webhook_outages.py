"""Webhooks that outlast an outage, on running services with real receivers and a real SMTP
server on loopback, the retry schedule compressed (an hour of Standard Webhooks' schedule is
half a second here): an endpoint down for "six hours" gets everything once it is back, its
open circuit having delayed deliveries without using their attempts up; an endpoint failing
too long has its subscription disabled and its owner told by mail, and once enabled again
gets what it missed by a replay of the time range, under the same webhook-ids."""

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from services.notify.domain import WEBHOOK_RETRY_SCHEDULE_S
from shared.names import Service
from tests.e2e.conftest import Services
from tests.e2e.notify.common import PROVINCE, Peers, eventually
from tests.e2e.notify.conftest import sending_platform
from tests.e2e.test_reports import report

HOUR_S = 0.5
"""An hour of the default schedule, compressed: the schedule lasts 13.75 s instead of 27.5 h."""
SCHEDULE = ",".join(f"{wait * HOUR_S / 3600:.6f}" for wait in WEBHOOK_RETRY_SCHEDULE_S)
DISABLE_AFTER_S = 6.0
"""Twice the six-hour outage (3 s), shorter than the schedule, so the test stays short (by
default 5 days, far longer than the schedule: one event failing is never enough)."""
OWNER = "ops@integrator.example"


@pytest.fixture(scope="module")
def outage(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, peers: Peers
) -> Iterator[Services]:
    env = {"SAFERETURN_NOTIFY_WEBHOOK_RETRY_SCHEDULE_S": SCHEDULE,
           "SAFERETURN_NOTIFY_BREAKER_FAILURES": "3",
           "SAFERETURN_NOTIFY_BREAKER_COOLDOWN_S": str(HOUR_S),
           "SAFERETURN_NOTIFY_SUBSCRIPTION_DISABLE_AFTER_S": str(DISABLE_AFTER_S)}  # fmt: skip
    with sending_platform(redis_url, tmp_path_factory.mktemp("outage"), peers, env) as started:
        yield started


class Receiver:
    """A webhook receiver on loopback that answers 503 while ``down`` and 200 otherwise, and
    records each request's webhook-id with the status it was answered."""

    def __init__(self) -> None:
        self.down = True
        self.answered: list[tuple[str, int, dict[str, str], bytes]] = []
        receiver, lock = self, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with lock:  # the answer and its record go together
                    status = 503 if receiver.down else 200
                    headers = dict(self.headers.items())
                    receiver.answered.append((headers["webhook-id"], status, headers, body))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.lock = lock
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def back(self) -> None:
        with self.lock:
            self.down = False

    def requests_with(self, webhook_id: str) -> int:
        return sum(found == webhook_id for found, *_ in self.answered)

    def delivered(self) -> Counter[str]:
        """How many times each webhook-id was answered 200."""
        return Counter(found for found, status, *_ in self.answered if status == 200)

    def last(self, webhook_id: str) -> tuple[dict[str, str], bytes]:
        (*_, headers, body) = [a for a in self.answered if a[0] == webhook_id][-1]
        return headers, body


def reported(platform: Services, reporter: dict[str, str], ref: str) -> str:
    """A new case, reported with a client made beforehand (making one takes a while)."""
    answer = httpx.post(f"{platform.urls[Service.INTAKE]}/v1/reports", json=report(ref),
                        headers=reporter)  # fmt: skip
    assert answer.status_code == 202, answer.text
    case_id: str = answer.json()["case_id"]
    return case_id


def subscribe(platform: Services, headers: dict[str, str], url: str, **extra: Any) -> Any:
    answer = httpx.post(f"{platform.urls[Service.NOTIFY]}/v1/subscriptions", headers=headers,
                        json={"url": url, "event_types": ["case.received"], "province": PROVINCE,
                              **extra})  # fmt: skip
    assert answer.status_code == 201, answer.text
    return answer.json()


def deliveries(
    platform: Services, admin: dict[str, str], case_id: str, subscription: dict[str, Any]
) -> list[dict[str, Any]]:
    """The case's deliveries to the subscription, from the delivery log."""
    answer = httpx.get(f"{platform.urls[Service.NOTIFY]}/v1/notifications",
                       params={"case_id": case_id}, headers=admin)  # fmt: skip
    return [n for n in answer.json()["notifications"]
            if n["recipient_name"] == subscription["subscription_id"]]  # fmt: skip


def test_an_endpoint_down_for_six_hours_receives_everything_once_it_is_back(
    outage: Services,
) -> None:
    admin = outage.auth()
    with Receiver() as receiver:
        integrator = outage.auth("integrator", province=PROVINCE)
        made = subscribe(outage, integrator, receiver.url)
        reporter = outage.auth("reporter")
        cases = [reported(outage, reporter, f"o-six-hours-{n}") for n in range(3)]
        eventually(lambda: receiver.answered)
        down_from = time.monotonic()
        eventually(lambda: len({webhook_id for webhook_id, *_ in receiver.answered}) == 3)
        time.sleep(max(0.0, 6 * HOUR_S - (time.monotonic() - down_from)))  # six hours down
        receiver.back()
        sent = eventually(
            lambda: _sent([d for c in cases for d in deliveries(outage, admin, c, made)])
        )
        metrics = httpx.get(f"{outage.urls[Service.NOTIFY]}/metrics").text
        subscription = f"{outage.urls[Service.NOTIFY]}/v1/subscriptions/{made['subscription_id']}"
        shown = httpx.get(subscription, headers=integrator).json()
        httpx.delete(subscription, headers=integrator)
    assert (len(sent), shown["status"], shown["disabled_at"]) == (3, "active", None)
    assert receiver.delivered() == {delivery["delivery_id"]: 1 for delivery in sent}
    for delivery in sent:  # every attempt reached the endpoint: none used up by the circuit
        assert delivery["attempts"] == receiver.requests_with(delivery["delivery_id"])
        assert 1 < delivery["attempts"] < len(WEBHOOK_RETRY_SCHEDULE_S) + 1
    headers, body = receiver.last(sent[0]["delivery_id"])
    assert Webhook(made["secret"]).verify(body, headers)["type"] == "case.received"
    put_off = (r'^safereturn_notify_deferred_total\{(?=[^}]*channel="webhook")'
               r'(?=[^}]*reason="circuit_open")[^}]*\} [1-9]')  # fmt: skip
    assert re.search(put_off, metrics, re.M), "the circuit never opened"


def test_a_failing_subscription_is_disabled_told_enabled_and_replayed_by_time_range(
    outage: Services, peers: Peers
) -> None:
    admin, owner = outage.auth(), outage.auth("integrator", province=PROVINCE)
    stranger = outage.auth("integrator", province=PROVINCE)
    reporter = outage.auth("reporter")
    notify = outage.urls[Service.NOTIFY]
    since = datetime.now(UTC) - timedelta(seconds=1)
    with Receiver() as receiver:  # down, for longer than DISABLE_AFTER_S
        made = subscribe(outage, owner, receiver.url, contact_email=OWNER)
        url = f"{notify}/v1/subscriptions/{made['subscription_id']}"
        first = reported(outage, reporter, "o-disabled-1")
        eventually(lambda: receiver.answered)
        time.sleep(DISABLE_AFTER_S)
        second = reported(outage, reporter, "o-disabled-2")  # fails once more, past the limit
        shown = eventually(lambda: _if_disabled(httpx.get(url, headers=owner).json()))
        assert (shown["disabled_reason"], shown["contact_email"]) == ("endpoint_failing", OWNER)
        assert shown["disabled_at"] is not None
        (notice,) = eventually(lambda: peers.smtp.to(OWNER))
        assert made["subscription_id"] in str(notice["Subject"])
        assert not {first, second} & set(re.findall(r"[0-9a-f-]{36}", notice.as_string()))

        third = reported(outage, reporter, "o-disabled-3")  # while disabled: missed, never tried
        (missed,) = eventually(lambda: _missed(deliveries(outage, admin, third, made)))
        assert (missed["attempts"], receiver.requests_with(missed["delivery_id"])) == (0, 0)
        for case_id in (first, second):
            assert [d["status"] for d in deliveries(outage, admin, case_id, made)] == ["missed"]

        refused = httpx.post(f"{url}/replay", headers=owner, json={"since": since.isoformat()})
        assert (refused.status_code, refused.json()["type"]) == (
            409, "urn:safereturn:problem:subscription-disabled",
        )  # fmt: skip
        assert refused.headers["content-type"] == "application/problem+json"
        assert httpx.post(f"{url}/enable", headers=stranger).status_code == 404
        receiver.back()  # the endpoint is fixed
        enabled = httpx.post(f"{url}/enable", headers=owner)
        assert (enabled.status_code, enabled.json()["status"]) == (200, "active")
        assert enabled.json()["disabled_at"] is None
        fourth = reported(outage, reporter, "o-enabled")
        eventually(lambda: _sent(deliveries(outage, admin, fourth, made)))

        backwards = {"since": datetime.now(UTC).isoformat(), "until": since.isoformat()}
        invalid = httpx.post(f"{url}/replay", headers=owner, json=backwards)
        assert (invalid.status_code, invalid.json()["errors"][0]["code"]) == (422, "bad_range")
        mine = {"since": since.isoformat()}
        assert httpx.post(f"{url}/replay", headers=stranger, json=mine).status_code == 404
        replayed = httpx.post(f"{url}/replay", headers=owner, json=mine)
        assert (replayed.status_code, replayed.json()) == (202, {"queued": 3})
        ids = [deliveries(outage, admin, c, made)[0]["delivery_id"] for c in (first, second, third)]
        eventually(
            lambda: all(_sent(deliveries(outage, admin, c, made)) for c in (first, second, third))
        )
        delivered = receiver.delivered()
        for webhook_id in ids:  # under the same id as before: a receiver can drop a repeat
            assert delivered[webhook_id] == 1
            headers, body = receiver.last(webhook_id)
            assert Webhook(made["secret"]).verify(body, headers)["type"] == "case.received"
        assert len(peers.smtp.to(OWNER)) == 1  # told once
        httpx.delete(url, headers=owner)


def _if_disabled(shown: dict[str, Any]) -> dict[str, Any] | None:
    return shown if shown["status"] == "disabled" else None


def _missed(found: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return found if found and all(d["status"] == "missed" for d in found) else None


def _sent(found: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return found if found and all(d["status"] == "sent" for d in found) else None
