"""Notify on running services, for integrators: signed events retried through errors and a
timeout, nothing of a case whose person refused sharing (by webhook or on the public stream),
pings that tell nothing of what lies behind a URL, a dead endpoint ends in
``notification.failed``, and no message carries a person's identity."""

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from shared.names import Service, Stream
from shared.redis_server import free_port
from tests.e2e.conftest import Services
from tests.e2e.notify.common import (
    PROVINCE,
    Peers,
    assert_no_identity,
    eventually,
    hooks_about,
    log_of,
    mails_about,
    new_case,
)
from tests.e2e.test_reports import published, report


def test_an_integrator_receives_signed_events_through_errors_and_a_timeout(
    notify: Services, peers: Peers
) -> None:
    integrator = notify.auth("integrator", province=PROVINCE)
    peers.http.plans["/hooks/a"] = [500, 503, "hang"]
    answer = httpx.post(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions", headers=integrator,
                        json={"url": peers.http.url("/hooks/a"), "event_types": ["case.received"],
                              "province": PROVINCE})  # fmt: skip
    assert answer.status_code == 201, answer.text
    secret = answer.json()["secret"]
    listed = httpx.get(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions", headers=integrator)
    assert [s["secret"] for s in listed.json()] == [None]  # shown once only

    case_id = new_case(notify, "n-webhook")
    received = eventually(lambda: hooks_about(peers, "/hooks/a", case_id, 4))
    assert len({r.headers["webhook-id"] for r in received}) == 1  # one message, retried
    event = Webhook(secret).verify(received[-1].body, received[-1].headers)
    assert (event["type"], event["data"]["case_id"]) == ("case.received", case_id)
    assert (
        eventually(
            lambda: [
                n
                for n in log_of(notify, case_id)
                if n["recipient"] == "integrator" and n["status"] == "sent"
            ]
        )[0]["attempts"]
        == 4
    )

    subscription = answer.json()["subscription_id"]
    url = f"{notify.urls[Service.NOTIFY]}/v1/subscriptions/{subscription}"
    assert httpx.post(f"{url}/ping", headers=integrator).json()["delivered"] is True
    assert httpx.post(f"{url}/pause", headers=integrator).json()["status"] == "paused"
    paused_case = new_case(notify, "n-paused")
    time.sleep(1.5)
    assert hooks_about(peers, "/hooks/a", paused_case) is None
    assert httpx.post(f"{url}/resume", headers=integrator).json()["status"] == "active"
    eventually(lambda: hooks_about(peers, "/hooks/a", paused_case))
    assert httpx.delete(url, headers=integrator).status_code == 204
    assert httpx.post(f"{url}/ping", headers=integrator).status_code == 404


def test_nothing_of_a_case_whose_person_refused_sharing_reaches_an_integrator(
    notify: Services, peers: Peers
) -> None:
    """Agencies hear of both cases; the integrator's webhook only of the one whose person
    agreed, without personal data (its stream: test_integrator_streams.py)."""
    integrator = notify.auth("integrator", province=PROVINCE)
    answer = httpx.post(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions", headers=integrator,
                        json={"url": peers.http.url("/hooks/consent"), "event_types": ["*"],
                              "province": PROVINCE})  # fmt: skip
    assert answer.status_code == 201, answer.text
    cases = {}
    for ref, sharing in (("n-share-no", False), ("n-share-yes", True)):
        body = report(ref)
        body["consent"]["information_sharing"] = sharing
        made = httpx.post(f"{notify.urls[Service.INTAKE]}/v1/reports", json=body,
                          headers=notify.auth("reporter"))  # fmt: skip
        assert made.status_code == 202, made.text
        cases[sharing] = made.json()["case_id"]
    eventually(lambda: mails_about(peers, cases[False], 4))  # agencies act on it all the same

    def received() -> list[Any]:
        found = hooks_about(peers, "/hooks/consent", cases[True]) or []
        return [h for h in found if h.json()["type"] == "case.received"]

    hooks = eventually(received)  # other events of the case may come before it
    (sent,) = [h.json() for h in hooks if h.json()["type"] == "case.received"]
    assert sent["data"]["age_band"] == "16-17"  # the report's person is 17
    assert not {"age", "ethnicity", "nationality", "consent", "agency"} & set(sent["data"])
    time.sleep(2)  # time for anything about the refusing case to arrive
    assert hooks_about(peers, "/hooks/consent", cases[False]) is None
    httpx.delete(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions/{answer.json()['subscription_id']}",
                 headers=integrator)  # fmt: skip


def test_notify_serves_its_part_of_the_contract(notify: Services) -> None:
    """The integrators' channel and messages, as in the committed contract (which adds the
    code lists, from every service's)."""
    served = httpx.get(f"{notify.urls[Service.NOTIFY]}/asyncapi.json",
                       headers=notify.auth("integrator")).json()  # fmt: skip
    committed = json.loads((Path(__file__).parents[3] / "docs/asyncapi.json").read_text())
    assert served["channels"]["integrator"] == committed["channels"]["integrator"]
    public = {name for name in committed["components"]["messages"] if name.startswith("public_")}
    assert public <= set(served["components"]["messages"])


def test_a_ping_says_delivered_or_not_and_nothing_of_why_after_a_fixed_time(
    notify: Services, peers: Peers
) -> None:
    """A refused port, a 404 and an answer that never comes look the same: a ping cannot
    scan what lies behind a URL. A client may ping a few times a minute."""
    integrator = notify.auth("integrator")
    peers.http.plans["/hooks/missing"] = [404]
    peers.http.plans["/hooks/slow"] = ["hang"]
    targets = {"refused": f"http://127.0.0.1:{free_port()}/x", "404": "/hooks/missing",
               "hang": "/hooks/slow", "ok": "/hooks/ping-ok"}  # fmt: skip
    answers, took = {}, {}
    for name, target in targets.items():
        url = target if target.startswith("http") else peers.http.url(target)
        made = httpx.post(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions", headers=integrator,
                          json={"url": url, "event_types": ["case.closed"]})  # fmt: skip
        assert made.status_code == 201, made.text
        subscription = made.json()["subscription_id"]
        started = time.monotonic()
        answer = httpx.post(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions/{subscription}/ping",
                            headers=integrator, timeout=10)  # fmt: skip
        took[name] = time.monotonic() - started
        answers[name] = answer.json() if answer.status_code == 200 else answer.status_code
        httpx.delete(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions/{subscription}",
                     headers=integrator)  # fmt: skip
    assert {name: a["delivered"] for name, a in list(answers.items())[:3]} == {
        "refused": False, "404": False, "hang": False
    }  # fmt: skip
    assert all(set(a) == {"delivered", "webhook_id"} for a in list(answers.values())[:3])
    assert all(1.0 <= t < 2.5 for t in list(took.values())[:3]), took
    assert answers["ok"] == 429  # the fourth ping in a minute


def test_a_dead_endpoint_opens_the_breaker_which_delays_without_using_attempts_up(
    notify: Services,
) -> None:
    """Four failures open the endpoint's circuit: the fifth attempt waits for the cooldown
    instead of being used up by the open circuit, reaches the endpoint, and fails as it did;
    then the delivery ends in ``notification.failed`` with that reason."""
    integrator = notify.auth("integrator")
    dead = f"http://127.0.0.1:{free_port()}/gone"  # nothing listens there
    answer = httpx.post(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions", headers=integrator,
                        json={"url": dead, "event_types": ["*"]})  # fmt: skip
    assert answer.status_code == 201
    case_id = new_case(notify, "n-dead")
    failed = eventually(
        lambda: [
            n
            for n in log_of(notify, case_id)
            if n["recipient"] == "integrator" and n["status"] == "failed"
        ]
    )
    assert (failed[0]["attempts"], failed[0]["last_error"]) == (5, "unreachable")
    event = published(notify, Stream.NOTIFICATIONS, "notification.failed", "notification_id",
                      failed[0]["delivery_id"])  # fmt: skip
    assert (event["reason"], event["channel"]) == ("unreachable", "webhook")
    metrics = httpx.get(f"{notify.urls[Service.NOTIFY]}/metrics").text
    assert re.search(r'^safereturn_notify_breakers_open\{channel="webhook"[^}]*\} [1-9]', metrics,
                     re.M), metrics  # fmt: skip
    put_off = (r'^safereturn_notify_deferred_total\{(?=[^}]*channel="webhook")'
               r'(?=[^}]*reason="circuit_open")[^}]*\} [1-9]')  # fmt: skip
    assert re.search(put_off, metrics, re.M), metrics
    replayed = httpx.post(
        f"{notify.urls[Service.NOTIFY]}/v1/notifications/replay",
        json={"delivery_ids": [failed[0]["delivery_id"]]},
        headers=notify.auth(),
    )
    assert replayed.json() == {"replayed": 1}
    httpx.delete(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions/{answer.json()['subscription_id']}",
                 headers=integrator)  # fmt: skip


def test_no_message_carries_the_persons_identity(notify: Services, peers: Peers) -> None:
    """Run last in the module: checks everything the peers received."""
    assert_no_identity(peers)
