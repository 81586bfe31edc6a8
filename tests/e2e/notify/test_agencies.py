"""Notify on running services, for agencies and the person: agencies get Vietnamese mail and
SMS for their cases, nothing goes twice, the person hears of an accepted referral only with
consent, an operator keeps the directory with the command, and no message carries a person's
identity."""

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis as redis_py

from shared.names import Service, Stream
from tests.e2e.conftest import Services
from tests.e2e.notify.common import (
    PROVINCE,
    WARD,
    Peers,
    assert_no_identity,
    eventually,
    log_of,
    mails_about,
    new_case,
)
from tests.e2e.test_reports import PHONE, TODAY, events, published, report


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
    assert_no_identity(peers)
