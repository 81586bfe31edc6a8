"""A webhook reaches only public addresses, checked at every attempt on the address connected
to: a name that resolved to a public address when the subscription was made and to loopback
later (DNS rebinding) reaches nothing, with a real receiver on loopback to prove it; an allowed
network is reached, by the checked address, under the original name."""

import ipaddress
import ssl
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from uuid6 import uuid7

from safereturn.sinks import HttpSink
from services.notify import domain, store
from services.notify.delivery import Deliverer
from services.notify.egress import NotPublic, internal_target, webhook_client
from shared.runtime import Platform
from tests.services.notify.test_delivery import (
    MESSAGES,
    notify_platform,
    outcomes,
    record,
    running,
    settings_for,
    settled,
)

NAME = "hooks.integrator.test"
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


class Rebinding:
    """A resolver we control: answers its list in turn, then the last answer for ever."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host != NAME:
            raise OSError("unknown name")
        return [self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]]


@pytest.fixture
def receiver() -> Iterator[HttpSink]:
    with HttpSink() as sink:
        yield sink


async def subscribed(platform: Platform, url: str) -> dict[str, Any]:
    """An integrator's subscription and one delivery to it, as the event handler records it."""
    subscription_id, case_id = str(uuid7()), f"case-{uuid7().hex[-8:]}"
    now = datetime.now(UTC)
    event = {"specversion": "1.0", "id": str(uuid7()), "source": "/safereturn/intake",
             "type": "case.received", "subject": case_id, "time": now.isoformat(),
             "data": {"case_id": case_id, "province": "11"}}  # fmt: skip
    row = {
        "delivery_id": str(uuid7()), "event_key": f"{event['source']}#{event['id']}",
        "recipient_key": f"subscription:{subscription_id}", "event_type": event["type"],
        "case_id": case_id, "province": "11", "recipient": domain.INTEGRATOR,
        "recipient_name": subscription_id, "channel": "webhook", "address": url,
        "language": "en", "event": event, "status": "pending", "attempts": 0,
        "next_attempt_at": now, "recorded_at": now,
    }  # fmt: skip
    async with platform.unit_of_work() as uow:
        await store.add_subscription(uow.session, {
            "subscription_id": subscription_id, "client_id": "integrator-1", "url": url,
            "event_types": ["*"], "province": "11", "ward": None, "secret": "whsec_" + "A" * 32,
            "status": "active", "created_at": now,
        })  # fmt: skip
    await record(platform, row)
    return row


async def test_a_webhook_to_an_internal_address_is_never_sent(
    receiver: HttpSink, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The check at subscription time is not enough: whatever the log holds, delivery checks."""
    settings = settings_for(database_url, redis_url, tmp_path)
    async with notify_platform(settings) as platform:
        row = await subscribed(platform, receiver.url("/hook"))
        async with running(Deliverer(platform, settings, MESSAGES)):
            final = await settled(platform, row["delivery_id"], within_s=10)
        assert receiver.received == []
        assert (final.status, final.last_error) == ("failed", "address_refused")
        assert [kind for kind, _ in await outcomes(platform, row["delivery_id"])] == [
            "notification.failed"
        ]


async def test_a_name_rebound_to_loopback_after_the_subscription_reaches_nothing(
    receiver: HttpSink, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    rebinding = Rebinding("93.184.216.34", "127.0.0.1")
    url = f"http://{NAME}:{receiver.port}/hook"
    assert await internal_target(url, rebinding) is False  # public when subscribed
    settings = settings_for(database_url, redis_url, tmp_path)
    async with notify_platform(settings) as platform:
        row = await subscribed(platform, url)
        async with running(Deliverer(platform, settings, MESSAGES, rebinding)):
            final = await settled(platform, row["delivery_id"], within_s=10)
    assert receiver.received == []
    assert (final.status, final.last_error) == ("failed", "address_refused")
    assert rebinding.asked == [NAME, NAME]  # resolved once when subscribed, once to deliver


async def test_an_allowed_network_is_reached_at_the_checked_address_under_its_name(
    receiver: HttpSink, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Embedded mode and tests allow loopback; the request still goes to the address that was
    checked, with the name in the Host header."""
    receiver.plans["/hook"] = [200]
    url = f"http://{NAME}:{receiver.port}/hook"
    settings = settings_for(database_url, redis_url, tmp_path, webhook_allow_networks=LOOPBACK)
    async with notify_platform(settings) as platform:
        row = await subscribed(platform, url)
        async with running(Deliverer(platform, settings, MESSAGES, Rebinding("127.0.0.1"))):
            final = await settled(platform, row["delivery_id"], within_s=10)
    assert final.status == "sent"
    (request,) = receiver.received
    assert request.headers["Host"] == f"{NAME}:{receiver.port}"


def certificate_for(name: str, folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_file, key_file


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """An HTTPS server on loopback whose certificate names NAME; records each request's Host."""
    cert_file, key_file = certificate_for(NAME, tmp_path)
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert_file, hosts
    finally:
        server.shutdown()
        server.server_close()


async def test_https_goes_to_the_checked_address_with_the_names_sni_and_certificate(
    tls_receiver: tuple[int, Path, list[str]],
) -> None:
    """The socket goes to the address that was checked; TLS still verifies the name."""
    port, cert_file, hosts = tls_receiver
    trusted = ssl.create_default_context(cafile=str(cert_file))
    async with webhook_client(Rebinding("127.0.0.1"), LOOPBACK, verify=trusted) as http:
        answer = await http.post(f"https://{NAME}:{port}/hook", content=b"{}")
    assert answer.status_code == 204
    assert hosts == [f"{NAME}:{port}"]
    async with webhook_client(Rebinding("127.0.0.1"), [], verify=trusted) as http:
        with pytest.raises(NotPublic):
            await http.post(f"https://{NAME}:{port}/hook", content=b"{}")
    assert len(hosts) == 1
