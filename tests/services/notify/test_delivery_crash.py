"""Notify SIGKILLed or SIGSTOPped in the middle of an attempt, on SQLite and PostgreSQL: killed
between claim and send, the delivery is sent once by the next process (or fails once, if that
was its last attempt); killed between send and recording, the peer gets it again with the same
reference (at least once, recognisably); stalled past its lease, it neither sends nor records
once another replica took over. Each attempt is counted once in ``/metrics``."""

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from safereturn.sinks import HttpSink
from services.notify.delivery import Deliverer
from services.notify.settings import NotifySettings
from shared.redis_server import free_port
from tests.e2e.conftest import service_env
from tests.services.notify.test_delivery import (
    MESSAGES,
    PERSON_PHONE,
    SlowIntake,
    delivery,
    notify_platform,
    outcomes,
    record,
    row_of,
    running,
    settings_for,
    settled,
)

LEASE_S = 1.0


class Notify:
    """Notify's process, started and SIGKILLed as an operator's machine would."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with (self.logs / "notify.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.notify"],
                env=self.env | {"SAFERETURN_NOTIFY_HTTP_PORT": str(port)},
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.logs / "notify.log").read_text()
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail("notify not ready")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def sampled(self, name: str, **labels: str) -> float:
        """The sum of the samples ``name`` with these labels in the process's ``/metrics``."""
        text = httpx.get(f"{self.url}/metrics").text
        return sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == name and labels.items() <= sample.labels.items())  # fmt: skip

    def counted(self, name: str, **labels: str) -> float:
        """A counter's value (0 if it has none yet)."""
        return self.sampled(f"{name}_total", **labels)


@pytest.fixture
def gateway() -> Iterator[HttpSink]:
    with HttpSink(hang_s=3.0) as sink:
        yield sink


@pytest.fixture
def intake() -> Iterator[SlowIntake]:
    with SlowIntake(delay_s=1.5) as stand_in:
        yield stand_in


@pytest.fixture
def notify_env(
    database_url: str, redis_url: str, redis: Redis, tmp_path: Path, gateway: HttpSink,
    intake: SlowIntake,
) -> dict[str, str]:  # fmt: skip
    credentials = tmp_path / "notify-client.json"
    credentials.write_text(json.dumps({"client_id": "notify", "client_secret": "s"}))
    return service_env(redis_url, tmp_path) | {
        "SAFERETURN_NOTIFY_DATABASE_URL": database_url,
        "SAFERETURN_NOTIFY_SMS_GATEWAY_URL": gateway.url("/sms"),
        "SAFERETURN_NOTIFY_INTAKE_URL": f"http://127.0.0.1:{intake.port}",
        "SAFERETURN_NOTIFY_INTAKE_CREDENTIALS_FILE": str(credentials),
        "SAFERETURN_NOTIFY_DELIVERY_LEASE_S": str(LEASE_S),
        "SAFERETURN_NOTIFY_DELIVERY_POLL_INTERVAL_S": "0.05",
        "SAFERETURN_NOTIFY_RETRY_BASE_S": "0.1",
        "SAFERETURN_NOTIFY_DELIVERY_MAX_ATTEMPTS": "3",
    }


async def wait_for(found: Callable[[], Any], within_s: float = 20.0) -> Any:
    deadline = time.monotonic() + within_s
    while not (value := found()):
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.05)
    return value


async def ended(settings: NotifySettings, delivery_id: str) -> tuple[Any, list[str]]:
    async with notify_platform(settings) as platform:
        deadline = time.monotonic() + 20
        while (row := await row_of(platform, delivery_id)).status not in ("sent", "failed"):
            assert time.monotonic() < deadline, f"never ended: {row.status}"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # anything sent late would have arrived
        return await row_of(platform, delivery_id), [
            kind for kind, _ in await outcomes(platform, delivery_id)
        ]


@pytest.mark.parametrize("max_attempts", [3, 1])
async def test_killed_between_claim_and_send_the_next_process_sends_once_or_fails_once(
    max_attempts: int, notify_env: dict[str, str], database_url: str, tmp_path: Path,
    gateway: HttpSink, intake: SlowIntake,
) -> None:  # fmt: skip
    env = notify_env | {"SAFERETURN_NOTIFY_DELIVERY_MAX_ATTEMPTS": str(max_attempts)}
    settings = NotifySettings(
        embedded=True, database_url=database_url, redis_url=env["SAFERETURN_REDIS_URL"]
    )
    row = delivery(to_person=True)
    async with notify_platform(settings) as platform:
        await record(platform, row)
    notify = Notify(env, tmp_path)
    try:
        notify.start()
        await wait_for(lambda: intake.reads)  # claimed, fetching the contact: not yet sent
        notify.kill()
        notify.start()
        final, events = await ended(settings, row["delivery_id"])
        if max_attempts == 1:  # the attempt that died was the last
            assert (final.status, final.attempts, final.last_error) == (
                "failed", 1, "lease_expired"
            )  # fmt: skip
            assert (gateway.received, events) == ([], ["notification.failed"])
            assert notify.counted("safereturn_notify_deliveries_ended", status="failed") == 1
            # the queue holds it as failed (counted on a maintenance round)
            await wait_for(lambda: notify.sampled("safereturn_notify_queue", status="failed",
                                                  channel="sms") == 1)  # fmt: skip
        else:
            assert (final.status, final.attempts) == ("sent", 2)
            assert [r.json()["to"] for r in gateway.at("/sms")] == [PERSON_PHONE]
            assert events == ["notification.sent"]
            assert notify.counted("safereturn_notify_attempts", outcome="sent") == 1
            latency = "safereturn_notify_delivery_latency_seconds_count"
            assert notify.sampled(latency, channel="sms") == 1
        assert notify.counted("safereturn_notify_attempts", outcome="expired") == 1
        assert notify.counted("safereturn_notify_attempts") == (1 if max_attempts == 1 else 2)
    finally:
        notify.stop()


async def test_killed_between_send_and_recording_the_peer_gets_it_again_recognisably(
    notify_env: dict[str, str], database_url: str, tmp_path: Path, gateway: HttpSink
) -> None:
    gateway.plans["/sms"] = ["hang"]  # receives the first, answers after notify is gone
    settings = NotifySettings(embedded=True, database_url=database_url,
                              redis_url=notify_env["SAFERETURN_REDIS_URL"])  # fmt: skip
    row = delivery()
    async with notify_platform(settings) as platform:
        await record(platform, row)
    notify = Notify(notify_env, tmp_path)
    try:
        notify.start()
        await wait_for(lambda: gateway.received)
        notify.kill()
        notify.start()
        final, events = await ended(settings, row["delivery_id"])
        assert (final.status, final.attempts) == ("sent", 2)
        sent = gateway.at("/sms")
        assert [r.json()["reference"] for r in sent] == [row["delivery_id"]] * 2
        assert events == ["notification.sent"]
        assert notify.counted("safereturn_notify_attempts", outcome="expired") == 1
        assert notify.counted("safereturn_notify_attempts", outcome="sent") == 1
    finally:
        notify.stop()


@pytest.mark.parametrize("stalled", ["before_send", "after_send"])
async def test_a_stalled_process_neither_sends_nor_records_once_its_claim_is_taken_over(
    stalled: str, notify_env: dict[str, str], database_url: str, redis_url: str,
    tmp_path: Path, gateway: HttpSink, intake: SlowIntake,
) -> None:  # fmt: skip
    """Notify is SIGSTOPped mid-attempt past its lease; another replica takes the delivery over
    and sends it; notify, resumed, finds the claim gone: it sends nothing more (stalled before
    sending) and its outcome is not recorded over the other's (stalled after sending)."""
    settings = settings_for(database_url, redis_url, tmp_path, delivery_timeout_s=5.0,
                            delivery_lease_s=LEASE_S, sms_gateway_url=gateway.url("/sms"),
                            intake_url=f"http://127.0.0.1:{intake.port}")  # fmt: skip
    if stalled == "after_send":
        gateway.plans["/sms"] = ["hang"]  # notify's request is answered while it is stopped
    row = delivery(to_person=stalled == "before_send")
    async with notify_platform(settings) as platform:
        await record(platform, row)
        stalling = Notify(notify_env, tmp_path)
        try:
            stalling.start()
            await wait_for(lambda: intake.reads if stalled == "before_send" else gateway.received)
            assert stalling.process is not None
            stalling.process.send_signal(signal.SIGSTOP)
            taker = Deliverer(platform, settings, MESSAGES)
            async with running(taker):
                final = await settled(platform, row["delivery_id"], within_s=20)
                stalling.process.send_signal(signal.SIGCONT)
                await asyncio.sleep(3.0)  # the resumed attempt goes on to its end
            assert (final.status, final.attempts) == ("sent", 2)
            assert await row_of(platform, row["delivery_id"]) == final  # the taker's, untouched
            events = [kind for kind, _ in await outcomes(platform, row["delivery_id"])]
            assert events == ["notification.sent"]
            assert taker.metrics.attempts == {("sms", "expired"): 1, ("sms", "sent"): 1}
            assert stalling.counted("safereturn_notify_attempts") == 0
        finally:
            stalling.stop()
    if stalled == "before_send":
        assert final.provider_message_id == "m-1"
        assert [r.json()["to"] for r in gateway.at("/sms")] == [PERSON_PHONE]
    else:  # sent by both: the receiver tells the repeat by its reference
        assert final.provider_message_id == "m-2"
        assert [r.json()["reference"] for r in gateway.at("/sms")] == [row["delivery_id"]] * 2
