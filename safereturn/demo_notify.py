"""The notification steps of the demo: local peers that stand in for the agencies' mail server,
an SMS gateway and an integrator's webhook endpoint; a realistic directory; an integrator
reading its own Redis stream; and, at the end, what each of them received for the scenario."""

import asyncio
import contextlib
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import redis
from standardwebhooks import Webhook

from safereturn import admin, integrators
from safereturn.scenario import ApiClient, Say, ScenarioError
from safereturn.sinks import HttpSink, SmtpSink
from services.notify.integrators import asked
from shared import redis_connect
from shared.access import Role
from shared.names import Service, Stream, integrator_group
from shared.settings import settings_for

Entries = list[tuple[str, list[tuple[str, dict[str, str]]]]]
MUONG_PHANG, HA_GIANG_1 = "03325", "00694"
DIRECTORY = [
    ("Công an xã Mường Phăng", "commune_police", "11", MUONG_PHANG, "congan.muongphang"),
    ("UBND xã Mường Phăng", "commune_committee", "11", MUONG_PHANG, "ubnd.muongphang"),
    ("Hội LHPN xã Mường Phăng", "womens_union", "11", MUONG_PHANG, "hoiphunu.muongphang"),
    ("Công an tỉnh Điện Biên", "provincial_police", "11", None, "congan.dienbien"),
    ("Bộ Chỉ huy BĐBP tỉnh Điện Biên", "border_guard", "11", None, "bienphong.dienbien"),
    ("Sở Y tế tỉnh Điện Biên", "social_protection", "11", None, "soyte.dienbien"),
    ("Trung tâm Công tác xã hội tỉnh Điện Biên", "child_protection", "11", None, "ctxh.dienbien"),
    ("Công an phường Hà Giang 1", "commune_police", "08", HA_GIANG_1, "congan.hagiang1"),
    ("UBND phường Hà Giang 1", "commune_committee", "08", HA_GIANG_1, "ubnd.hagiang1"),
    ("Công an tỉnh Tuyên Quang", "provincial_police", "08", None, "congan.tuyenquang"),
    ("Bộ Chỉ huy BĐBP tỉnh Tuyên Quang", "border_guard", "08", None, "bienphong.tuyenquang"),
    ("Sở Y tế tỉnh Tuyên Quang", "social_protection", "08", None, "soyte.tuyenquang"),
]


@dataclass
class Peers:
    smtp: SmtpSink
    webhooks: HttpSink
    sms: HttpSink


@contextlib.contextmanager
def peers() -> Iterator[Peers]:
    """Start the peers and point notify at them (set before the services start)."""
    with SmtpSink() as smtp, HttpSink() as webhooks, HttpSink() as sms:
        os.environ.update({
            "SAFERETURN_NOTIFY_SMTP_HOST": "127.0.0.1",
            "SAFERETURN_NOTIFY_SMTP_PORT": str(smtp.port),
            "SAFERETURN_NOTIFY_SMS_GATEWAY_URL": sms.url("/sms"),
        })  # fmt: skip
        yield Peers(smtp, webhooks, sms)


@dataclass
class Integrator:
    client: ApiClient
    client_id: str
    secret: str
    subscription_id: str
    stream: integrators.Added
    """The same partner's own stream (a new name each run: the last is revoked at the end)."""
    redis_url: str
    """The operator's."""


def _redis(url: str) -> redis.Redis:
    return redis_connect.sync_client(url, cluster=settings_for("platform").redis_cluster)


def set_up(
    urls: dict[str, str], operator: ApiClient, say: Say, found: Peers, redis_url: str
) -> Integrator:
    """The directory, and a provincial dashboard subscribing to Điện Biên's case events by
    webhook and reading them on its own stream; ``redis_url``: the operator's."""
    listed = operator.get(Service.NOTIFY, "/v1/agencies").json()
    present = {(agency["name"], agency["province"]) for agency in listed}
    for name, kind, province, ward, mailbox in DIRECTORY:
        if (name, province) in present:
            continue  # an earlier run of the demo in this folder added it
        agency = {"name": name, "kind": kind, "province": province, "ward": ward,
                  "emails": [f"{mailbox}@example.gov.vn"]}  # fmt: skip
        if kind == "commune_police":
            agency["phones"] = ["+84 215 3825 111" if province == "11" else "+84 219 3866 111"]
        answer = operator.post(Service.NOTIFY, "/v1/agencies", json=agency)
        if answer.status_code != 201:
            raise ScenarioError(f"the directory refused {name}: {answer.text}")
    earlier = sum((name, province) in present for name, _, province, _, _ in DIRECTORY)
    say(
        f"  {len(DIRECTORY)} agencies in the directory (mail; SMS for the commune police)"
        + (f", {earlier} of them added by an earlier run" if earlier else "")
    )
    credentials = asyncio.run(
        admin.create_client(lambda _: None, "Bảng điều hành tỉnh Điện Biên (demo)",
                            Role.INTEGRATOR, "11", None)
    )  # fmt: skip
    client = ApiClient(urls, credentials.client.client_id, credentials.secret)
    wanted = {"url": found.webhooks.url("/dashboard/events"), "event_types": ["*"],
              "province": "11"}  # fmt: skip
    subscription = client.post(Service.NOTIFY, "/v1/subscriptions", json=wanted)
    if subscription.status_code != 201:
        raise ScenarioError(f"the subscription was refused: {subscription.text}")
    body = subscription.json()
    ping = client.post(Service.NOTIFY, f"/v1/subscriptions/{body['subscription_id']}/ping")
    say(f"  an integrator subscribed to every case event of Điện Biên (secret shown once); "
        f"test ping delivered: {ping.json()['delivered']}")  # fmt: skip
    with contextlib.closing(_redis(redis_url)) as redis_client:
        name = f"demo-dien-bien-{secrets.token_hex(3)}"
        stream = integrators.added(redis_client, asked(name, "11", None))
    say(
        f"  and reads them on its own stream {stream.integrator.stream} as Redis user "
        f"{stream.user.name} (safereturn integrators add; password shown once)"
    )
    return Integrator(client, credentials.client.client_id, body["secret"],
                      body["subscription_id"], stream, redis_url)  # fmt: skip


def show_messages(found: Peers, integrator: Integrator, say: Say, settle_s: float = 20.0) -> None:
    """What each agency's mailbox, the SMS gateway and the integrator received."""
    deadline, seen = time.monotonic() + settle_s, -1
    while time.monotonic() < deadline:  # until deliveries stop coming
        count = len(found.smtp.messages) + len(found.webhooks.received) + len(found.sms.received)
        if count == seen:
            break
        seen = count
        time.sleep(2.0)
    by_mailbox: dict[str, Counter[str]] = {}
    for mail in found.smtp.messages:
        subject = str(mail["Subject"]).split(" — ")[0].removeprefix("[SafeReturn] ")
        by_mailbox.setdefault(str(mail["To"]), Counter())[subject] += 1
    if not by_mailbox:
        raise ScenarioError("no agency received any mail")
    for mailbox, subjects in sorted(by_mailbox.items()):
        listed = "; ".join(f"{subject} x{n}" for subject, n in subjects.items())
        say(f"  {mailbox:<36} {listed}")
    sms = Counter(r.json()["to"] for r in found.sms.received)
    say(f"  SMS gateway: {sum(sms.values())} messages to {len(sms)} numbers")
    hooks = [r for r in found.webhooks.received if r.path == "/dashboard/events"]
    verifier = Webhook(integrator.secret)
    verified = Counter(verifier.verify(r.body, r.headers)["type"] for r in hooks)
    say(
        f"  the integrator's endpoint: {len(hooks)} signed events, every signature verified: "
        + ", ".join(f"{kind} x{n}" for kind, n in sorted(verified.items()))
    )
    if not verified:
        raise ScenarioError("the integrator received no event")
    show_stream(integrator, say)


def show_stream(integrator: Integrator, say: Say) -> None:
    """What the integrator read on its own stream, as its own Redis user, with redis-py."""
    stream = integrator.stream.integrator.stream
    group = integrator_group(integrator.stream.integrator.name)
    reader = redis.Redis.from_url(integrator.stream.url(integrator.redis_url),
                                  decode_responses=True)  # fmt: skip
    read: Counter[str] = Counter()
    try:
        while batch := cast(Entries, reader.xreadgroup(group, "demo", {stream: ">"}, count=100)):
            for entry_id, fields in batch[0][1]:
                read[fields["type"]] += 1
                reader.xack(stream, group, entry_id)
        try:
            reader.xrange(str(Stream.CASES), count=1)
            refused = "read the platform's case stream: it should not have been able to"
        except redis.exceptions.NoPermissionError:
            refused = "its user may not read the platform's case stream (NOPERM)"
    finally:
        reader.close()
    say(
        f"  the integrator's stream: {sum(read.values())} events read in its group and "
        f"acknowledged ({', '.join(f'{kind} x{n}' for kind, n in sorted(read.items()))}); "
        f"{refused}"
    )
    if not read or "NOPERM" not in refused:
        raise ScenarioError("the integrator's stream is not as it should be")


def close(integrator: Integrator, say: Say) -> None:
    """Unsubscribe (the next run's endpoint is another), revoke the integrator's client and
    its stream."""
    integrator.client.delete(Service.NOTIFY, f"/v1/subscriptions/{integrator.subscription_id}")
    integrator.client.close()
    asyncio.run(admin.revoke_client(say, integrator.client_id))
    with contextlib.closing(_redis(integrator.redis_url)) as redis_client:
        integrators.revoke(say, redis_client, integrator.stream.integrator.name)
