"""Notify on running services with real peers on loopback: an SMTP server, webhook receivers and
an SMS gateway. Agencies get Vietnamese mail for their cases, integrators get signed events
retried through errors, a dead endpoint ends in ``notification.failed``, nothing goes twice,
and no message carries a person's identity."""

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_py
from standardwebhooks import Webhook

from safereturn.sinks import HttpSink, SmtpSink, bodies
from shared.names import Service, Stream, public_stream
from shared.redis_server import free_port
from tests.e2e.conftest import Services, service_env
from tests.e2e.test_reports import ID_NUMBER, NAME, PHONE, TODAY, events, published, report

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


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with SmtpSink() as smtp, HttpSink(hang_s=2.5) as http, HttpSink() as sms:
        yield Peers(smtp, http, sms)


@pytest.fixture(scope="module")
def notify(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, peers: Peers
) -> Iterator[Services]:
    """Every service, with notify sending to the local peers and retrying fast."""
    own_redis = redis_url.rsplit("/", 1)[0] + "/2"
    flush = redis_py.Redis.from_url(own_redis)
    flush.flushdb()
    flush.close()
    data_dir = tmp_path_factory.mktemp("notify")
    env = service_env(own_redis, data_dir) | {
        "SAFERETURN_NOTIFY_SMTP_PORT": str(peers.smtp.port),
        "SAFERETURN_NOTIFY_SMS_GATEWAY_URL": peers.sms.url("/sms"),
        "SAFERETURN_NOTIFY_DELIVERY_TIMEOUT_S": "1",
        "SAFERETURN_NOTIFY_RETRY_BASE_S": "0.2",
        "SAFERETURN_NOTIFY_RETRY_CAP_S": "0.5",
        "SAFERETURN_NOTIFY_DELIVERY_MAX_ATTEMPTS": "5",
        "SAFERETURN_NOTIFY_BREAKER_FAILURES": "4",
        "SAFERETURN_NOTIFY_BREAKER_COOLDOWN_S": "60",
        "SAFERETURN_NOTIFY_PING_ANSWER_S": "1",
        "SAFERETURN_NOTIFY_PING_RATE_PER_MINUTE": "3",
    }
    with pytest.MonkeyPatch.context() as monkeypatch:
        started = Services(env, data_dir, monkeypatch)
        try:
            started.start(*Service)
            admin = started.auth()
            for agency in AGENCIES:
                answer = httpx.post(f"{started.urls[Service.NOTIFY]}/v1/agencies", json=agency,
                                    headers=admin)  # fmt: skip
                assert answer.status_code == 201, answer.text
            yield started
        finally:
            started.stop()


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


def test_a_received_child_is_mailed_to_the_communes_agencies_in_vietnamese(
    notify: Services, peers: Peers
) -> None:
    case_id = new_case(notify, "n-received")  # a 17-year-old with a child of 2
    mails = eventually(lambda: mails_about(peers, case_id, 4))
    to = sorted(str(m["To"]) for m in mails)
    assert to == ["congan.muongphang@example.vn", "ctxh@example.vn", "syt@example.vn",
                  "ubnd.muongphang@example.vn"]  # fmt: skip
    mail = next(m for m in mails if "congan" in str(m["To"]))
    assert mail["Subject"] == f"[SafeReturn] Tiếp nhận trường hợp mới — hồ sơ {case_id}"
    assert "Địa bàn: Xã Mường Phăng, Tỉnh Điện Biên" in mail.get_content()
    assert "laichau@example.vn" not in to  # another province's police hear nothing
    sms = eventually(lambda: [r for r in peers.sms.at("/sms") if case_id in r.json()["text"]])
    assert sms[0].json()["to"] == "+84 200 000 001"
    logged = eventually(lambda: [n for n in log_of(notify, case_id) if n["status"] == "sent"])
    assert {n["channel"] for n in logged} == {"email", "sms"}
    assert all(n["provider_message_id"] for n in logged)
    sent = eventually(
        lambda: [
            e
            for e in events(notify, Stream.NOTIFICATIONS, "notification.sent")
            if e["case_id"] == case_id
        ]
    )
    assert {e["about"] for e in sent} == {"case.received"}


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


def public_entries(platform: Services, case_id: str) -> list[dict[str, str]]:
    """The case's entries on its province's public stream, read as any Redis client can."""
    client = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"], decode_responses=True)
    try:
        entries = client.xrange(public_stream(PROVINCE))
    finally:
        client.close()
    return [fields for _, fields in entries if fields.get("subject") == case_id]


def test_nothing_of_a_case_whose_person_refused_sharing_reaches_an_integrator(
    notify: Services, peers: Peers
) -> None:
    """Agencies hear of both cases; the integrator, by webhook and on the public stream, only
    of the one whose person agreed, and the same view both ways, without personal data."""
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
    hooks = eventually(lambda: hooks_about(peers, "/hooks/consent", cases[True]))
    entries = eventually(lambda: public_entries(notify, cases[True]))
    (sent,) = [h.json() for h in hooks if h.json()["type"] == "case.received"]
    (entry,) = [e for e in entries if e["type"] == "case.received"]
    assert {k: v for k, v in entry.items() if k != "data"} == {
        k: str(v) for k, v in sent.items() if k != "data"
    }
    assert json.loads(entry["data"]) == sent["data"]
    assert sent["data"]["age_band"] == "16-17"  # the report's person is 17
    assert not {"age", "ethnicity", "nationality", "consent", "agency"} & set(sent["data"])
    time.sleep(2)  # time for anything about the refusing case to arrive
    assert hooks_about(peers, "/hooks/consent", cases[False]) is None
    assert public_entries(notify, cases[False]) == []
    httpx.delete(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions/{answer.json()['subscription_id']}",
                 headers=integrator)  # fmt: skip


def test_notify_documents_the_public_streams(notify: Services) -> None:
    catalogue = httpx.get(f"{notify.urls[Service.NOTIFY]}/asyncapi.json",
                          headers=notify.auth("integrator")).json()  # fmt: skip
    channel = catalogue["channels"]["public"]
    assert channel["address"].replace("{province}", PROVINCE) == public_stream(PROVINCE)
    assert "public_case_received" in catalogue["components"]["messages"]


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


def test_a_dead_endpoint_opens_the_breaker_and_ends_in_notification_failed(
    notify: Services,
) -> None:
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
    assert (failed[0]["attempts"], failed[0]["last_error"]) == (5, "circuit_open")
    event = published(notify, Stream.NOTIFICATIONS, "notification.failed", "notification_id",
                      failed[0]["delivery_id"])  # fmt: skip
    assert (event["reason"], event["channel"]) == ("circuit_open", "webhook")
    replayed = httpx.post(
        f"{notify.urls[Service.NOTIFY]}/v1/notifications/replay",
        json={"delivery_ids": [failed[0]["delivery_id"]]},
        headers=notify.auth(),
    )
    assert replayed.json() == {"replayed": 1}
    httpx.delete(f"{notify.urls[Service.NOTIFY]}/v1/subscriptions/{answer.json()['subscription_id']}",
                 headers=integrator)  # fmt: skip


def test_a_redelivered_event_sends_nothing_twice(notify: Services, peers: Peers) -> None:
    case_id = new_case(notify, "n-twice")
    eventually(lambda: mails_about(peers, case_id, 4))
    client = redis_py.Redis.from_url(notify.env["SAFERETURN_REDIS_URL"])
    try:
        (original,) = [fields for _, fields in client.xrange(Stream.CASES)
                       if fields[b"subject"] == case_id.encode() and
                       fields[b"type"] == b"case.received"]  # fmt: skip
        client.xadd(Stream.CASES, original)  # the same CloudEvent (source, id) once more
    finally:
        client.close()
    time.sleep(3)
    assert len([m for m in peers.smtp.messages if case_id in m.get_content()]) == 4


def test_the_person_hears_of_an_accepted_referral_only_with_consent(
    notify: Services, peers: Peers
) -> None:
    client_id, secret = notify.new_client("service")
    credentials = Path(notify.env["SAFERETURN_DATA_DIR"]) / "secrets" / "notify-client.json"
    credentials.parent.mkdir(exist_ok=True)
    credentials.write_text(json.dumps({"client_id": client_id, "client_secret": secret}))
    officer = notify.auth("support_officer", province=PROVINCE)
    provider = notify.auth("provider", province=PROVINCE, agency="CTXH Điện Biên")  # named below
    heard = []
    for ref, consent in (("n-person-yes", True), ("n-person-no", False)):
        body = report(ref)
        body["consent"]["services"] = consent
        answer = httpx.post(f"{notify.urls[Service.INTAKE]}/v1/reports", json=body,
                            headers=notify.auth("reporter"))  # fmt: skip
        case_id = answer.json()["case_id"]
        published(notify, Stream.CASES, "verification.opened", "case_id", case_id)
        eventually(lambda c=case_id: httpx.get(  # type: ignore[misc]
            f"{notify.urls[Service.SUPPORT]}/v1/diagnostics/cases/{c}",
            headers=notify.auth()).status_code == 200)  # fmt: skip
        referral = httpx.post(f"{notify.urls[Service.SUPPORT]}/v1/cases/{case_id}/referrals",
                              json={"service": "child_protection", "provider": "CTXH Điện Biên",
                                    "referred_at": TODAY.isoformat()}, headers=officer)  # fmt: skip
        assert referral.status_code == 201, referral.text
        step = f"{notify.urls[Service.SUPPORT]}/v1/referrals/{referral.json()['referral_id']}"
        accepted = httpx.post(f"{step}/accept", json={"on": TODAY.isoformat()}, headers=provider)
        assert accepted.status_code == 200, accepted.text
        published(notify, Stream.CASES, "referral.accepted", "case_id", case_id)
        heard.append(case_id)

    def to_person(case_id: str) -> list[Any]:
        return [r for r in peers.sms.at("/sms")
                if case_id in r.json()["text"] and "của bạn" in r.json()["text"]]  # fmt: skip

    assert eventually(lambda: to_person(heard[0]))[0].json()["to"] == PHONE  # from intake
    time.sleep(2)
    assert not to_person(heard[1])  # no consent: nothing to the person
    contact_reads = httpx.get(
        f"{notify.urls[Service.INTAKE]}/v1/audit",
        params={"client_id": client_id},
        headers=notify.auth("auditor"),
    )
    assert any("contact" in r["action"] for r in contact_reads.json()["records"])


def test_an_operator_manages_the_directory_with_the_command(notify: Services) -> None:
    def safereturn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "safereturn", *args], env=notify.env,
                              capture_output=True, text=True, check=False)  # fmt: skip

    added = safereturn(
        "agencies",
        "add",
        "--name",
        "Hội LHPN xã Mường Phăng",
        "--kind",
        "womens_union",
        "--province",
        PROVINCE,
        "--ward",
        WARD,
        "--email",
        "hoiphunu@example.vn",
        "--webhook",
        "https://hpn.example/h",
    )
    assert added.returncode == 0, added.stdout + added.stderr
    agency_id = added.stdout.split()[0]
    assert "webhook_secret: whsec_" in added.stdout  # shown once
    directory = httpx.get(
        f"{notify.urls[Service.NOTIFY]}/v1/agencies",
        params={"kind": "womens_union"},
        headers=notify.auth(),
    ).json()
    assert [a["agency_id"] for a in directory] == [agency_id]
    assert "webhook_secret" not in str(directory[0].values())
    assert agency_id in safereturn("agencies", "list", "--province", PROVINCE).stdout
    bad = safereturn("agencies", "add", "--name", "X", "--kind", "school", "--email", "not-mail")
    assert (bad.returncode, "emails.0" in bad.stdout) == (2, True)
    assert safereturn("agencies", "remove", agency_id).returncode == 0
    assert safereturn("agencies", "remove", agency_id).returncode == 1
    assert "failed deliveries queued again" in safereturn("notify", "replay", "--all").stdout


def test_no_message_carries_the_persons_identity(notify: Services, peers: Peers) -> None:
    """Run last in the module: checks everything the peers received."""
    texts = bodies(peers.smtp.messages) + [str(m["Subject"]) for m in peers.smtp.messages]
    texts += [r.body.decode() for r in peers.http.received]
    texts += [r.json()["text"] for r in peers.sms.at("/sms")]  # "to" is the gateway's address
    assert len(texts) > 10
    for text in texts:
        for secret in (NAME, ID_NUMBER, PHONE):
            assert secret not in text
