"""A platform per notify module, sending to real peers on loopback: an SMTP server, webhook
receivers and an SMS gateway."""

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
import redis as redis_py

from safereturn.sinks import HttpSink, SmtpSink
from shared.names import Service
from tests.e2e.conftest import Services, service_env
from tests.e2e.notify.common import AGENCIES, Peers


@pytest.fixture(scope="module")
def peers() -> Iterator[Peers]:
    with SmtpSink() as smtp, HttpSink(hang_s=2.5) as http, HttpSink() as sms:
        yield Peers(smtp, http, sms)


@pytest.fixture(scope="module")
def notify(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, peers: Peers
) -> Iterator[Services]:
    """Every service, with notify sending to the local peers and retrying fast."""
    with sending_platform(redis_url, tmp_path_factory.mktemp("notify"), peers) as started:
        yield started


@contextlib.contextmanager
def sending_platform(
    redis_url: str, data_dir: Path, peers: Peers, env: Mapping[str, str] | None = None
) -> Iterator[Services]:
    """Every service on its own Redis database, the agencies in the directory, notify sending
    to the local peers; ``env`` added to every service's."""
    own_redis = redis_url.rsplit("/", 1)[0] + "/2"
    flush = redis_py.Redis.from_url(own_redis)
    flush.flushdb()
    flush.close()
    every = (
        service_env(own_redis, data_dir)
        | {
            "SAFERETURN_NOTIFY_SMTP_PORT": str(peers.smtp.port),
            "SAFERETURN_NOTIFY_SMS_GATEWAY_URL": peers.sms.url("/sms"),
            "SAFERETURN_NOTIFY_DELIVERY_TIMEOUT_S": "1",
            "SAFERETURN_NOTIFY_RETRY_BASE_S": "0.2",
            "SAFERETURN_NOTIFY_RETRY_CAP_S": "0.5",
            "SAFERETURN_NOTIFY_DELIVERY_MAX_ATTEMPTS": "5",
            "SAFERETURN_NOTIFY_WEBHOOK_RETRY_SCHEDULE_S": "0.2,0.3,0.5,0.5",  # five attempts
            "SAFERETURN_NOTIFY_BREAKER_FAILURES": "4",
            "SAFERETURN_NOTIFY_BREAKER_COOLDOWN_S": "1",
            "SAFERETURN_NOTIFY_PING_ANSWER_S": "1",
            "SAFERETURN_NOTIFY_PING_RATE_PER_MINUTE": "3",
        }
        | dict(env or {})
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        started = Services(every, data_dir, monkeypatch)
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
