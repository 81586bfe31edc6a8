"""Every attempt ends as sent or failed, is counted once, and is fenced by its claim: with real
peers on loopback (an SMS gateway, a stand-in for intake's contact endpoint), real Redis and
both databases, and two replicas working on one delivery log."""

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from uuid6 import uuid7

from safereturn.sinks import HttpSink
from services.notify import domain, store
from services.notify.app import MIGRATIONS, create_app
from services.notify.delivery import Deliverer
from services.notify.messages import Messages
from services.notify.settings import NotifySettings
from shared.db import outbox
from shared.migrations import upgrade
from shared.redis_server import free_port
from shared.runtime import Platform

ROOT = Path(__file__).resolve().parents[3]
MESSAGES = Messages(ROOT / "services/notify/templates")
AGENCY_PHONE = "+84 200 000 001"
PERSON_PHONE = "+84 912 000 777"
MAX_ATTEMPTS = 4


def settings_for(
    database_url: str, redis_url: str, tmp_path: Path, **changes: Any
) -> NotifySettings:
    credentials = tmp_path / "notify-client.json"
    credentials.write_text(json.dumps({"client_id": "notify", "client_secret": "s"}))
    values: dict[str, Any] = {
        "redis_url": redis_url, "database_url": database_url, "data_dir": tmp_path,
        "intake_credentials_file": credentials, "intake_url": f"http://127.0.0.1:{free_port()}",
        "delivery_timeout_s": 2.0, "delivery_max_attempts": MAX_ATTEMPTS, "retry_base_s": 0.1,
        "retry_cap_s": 0.2, "breaker_failures": 1000, "endpoint_rate_per_minute": 100_000,
        "delivery_poll_interval_s": 0.02, "embedded": True,
    }  # fmt: skip
    return NotifySettings.model_validate(values | changes)


@asynccontextmanager
async def notify_platform(settings: NotifySettings) -> AsyncIterator[Platform]:
    """Notify's plumbing on a migrated database; its consumers and worker are not started."""
    platform: Platform = create_app(settings).state.platform
    try:
        await upgrade(platform.database, MIGRATIONS)
        yield platform
    finally:
        await platform.redis.aclose()
        await platform.database.dispose()
        platform.telemetry.shutdown()


def delivery(*, to_person: bool = False, **changes: Any) -> dict[str, Any]:
    """A delivery as the event handler records it: an SMS to an agency, or to the person."""
    case_id = f"case-{uuid7().hex[-8:]}"
    event = {"specversion": "1.0", "id": str(uuid7()), "source": "/safereturn/intake",
             "type": "referral.accepted" if to_person else "case.received", "subject": case_id,
             "data": {"case_id": case_id, "province": "11", "ward": "03325"}}  # fmt: skip
    recipient = domain.PERSON if to_person else "commune_police"
    now = datetime.now(UTC)
    return {
        "delivery_id": str(uuid7()), "event_key": f"{event['source']}#{event['id']}",
        "recipient_key": f"person:{case_id}:sms" if to_person else f"agency:a:sms:{AGENCY_PHONE}",
        "event_type": event["type"], "case_id": case_id, "province": "11",
        "recipient": recipient, "recipient_name": "Công an xã", "channel": "sms",
        "address": None if to_person else AGENCY_PHONE, "language": "vi", "event": event,
        "status": "pending", "attempts": 0, "next_attempt_at": now, "recorded_at": now,
    } | changes  # fmt: skip


async def record(platform: Platform, row: dict[str, Any]) -> None:
    async with platform.unit_of_work() as uow:
        await store.add_deliveries(uow.session, [row])


async def row_of(platform: Platform, delivery_id: str) -> Any:
    async with platform.database.reading() as session:
        return await store.delivery(session, delivery_id)


async def outcomes(platform: Platform, delivery_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The ``notification.*`` events queued in the outbox for one delivery."""
    async with platform.database.reading() as session:
        rows = await session.execute(select(outbox.c.event_type, outbox.c.fields))
    found = [(kind, json.loads(fields["data"])) for kind, fields in rows]
    return [(kind, data) for kind, data in found if data.get("notification_id") == delivery_id]


@asynccontextmanager
async def running(*deliverers: Deliverer) -> AsyncIterator[None]:
    """The replicas' worker loops, as the service runs them, until the block ends."""
    tasks = [asyncio.create_task(d.run()) for d in deliverers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def settled(platform: Platform, delivery_id: str, within_s: float) -> Any:
    """The delivery once it is sent or failed; its last state if it never is."""
    deadline = time.monotonic() + within_s
    while True:
        row = await row_of(platform, delivery_id)
        if row.status in ("sent", "failed") or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.05)


@pytest.fixture
def gateway() -> Iterator[HttpSink]:
    with HttpSink(hang_s=1.0) as sink:
        yield sink


class SlowIntake:
    """A stand-in for intake's token and contact endpoints, on loopback, answering the contact
    after ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        self.port, self.reads = free_port(), 0
        intake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self._answer({"access_token": "t", "expires_in": 600})

            def do_GET(self) -> None:
                intake.reads += 1
                time.sleep(delay_s)
                self._answer({"phone": PERSON_PHONE, "consent": {"services": True}})

            def _answer(self, body: dict[str, Any]) -> None:
                content = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "SlowIntake":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- every attempt ends ------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["html", "drop"])
async def test_a_gateway_answering_garbage_is_retried_with_backoff_then_fails_once(
    answer: str, gateway: HttpSink, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    gateway.plans["/sms"] = [answer] * 20
    settings = settings_for(database_url, redis_url, tmp_path, sms_gateway_url=gateway.url("/sms"))
    async with notify_platform(settings) as platform:
        row = delivery()
        await record(platform, row)
        deliverer = Deliverer(platform, settings, MESSAGES)
        started = time.monotonic()
        async with running(deliverer):
            final = await settled(platform, row["delivery_id"], within_s=10)
            took = time.monotonic() - started
            await asyncio.sleep(1.0)  # time for any further send
        assert (final.status, final.attempts) == ("failed", MAX_ATTEMPTS)
        assert final.last_error == ("bad_answer" if answer == "html" else "unreachable")
        assert len(gateway.at("/sms")) == MAX_ATTEMPTS  # and nothing after the last
        # waits of at least half of 0.1, 0.2, 0.2 s between the attempts
        assert took >= 0.05 + 0.1 + 0.1
        events = await outcomes(platform, row["delivery_id"])
        assert [(kind, data["attempts"]) for kind, data in events] == [
            ("notification.failed", MAX_ATTEMPTS)
        ]
        assert deliverer.metrics.attempts == {("sms", "failed"): MAX_ATTEMPTS}
        assert deliverer.metrics.ended == {("sms", "failed"): 1}


async def test_an_unreachable_intake_is_retried_then_fails_once(
    gateway: HttpSink, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, redis_url, tmp_path, sms_gateway_url=gateway.url("/sms"))
    async with notify_platform(settings) as platform:
        row = delivery(to_person=True)
        await record(platform, row)
        deliverer = Deliverer(platform, settings, MESSAGES)
        async with running(deliverer):
            final = await settled(platform, row["delivery_id"], within_s=10)
            await asyncio.sleep(1.0)
        assert (final.status, final.attempts) == ("failed", MAX_ATTEMPTS)
        assert final.last_error == "contact_unreachable"
        assert gateway.received == []
        events = await outcomes(platform, row["delivery_id"])
        assert [kind for kind, _ in events] == ["notification.failed"]


async def test_an_smtp_server_dropping_the_connection_mid_data_is_retried_then_fails_once(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    datas = 0

    async def dropping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal datas
        writer.write(b"220 relay\r\n")
        while line := await reader.readline():
            if line.upper().startswith(b"DATA"):
                datas += 1
                writer.write(b"354 go on\r\n")
                await writer.drain()
                await reader.readline()  # the first line of the message, then gone
                break
            writer.write(b"221 bye\r\n" if line.upper().startswith(b"QUIT") else b"250 ok\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(dropping, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = settings_for(database_url, redis_url, tmp_path, smtp_port=port)
    async with server, notify_platform(settings) as platform:
        row = delivery(channel="email", address="syt@example.vn",
                       recipient_key="agency:a:email:syt@example.vn")  # fmt: skip
        await record(platform, row)
        async with running(deliverer := Deliverer(platform, settings, MESSAGES)):
            final = await settled(platform, row["delivery_id"], within_s=10)
            await asyncio.sleep(0.5)
        events = await outcomes(platform, row["delivery_id"])
    assert (final.status, final.attempts, final.last_error) == (
        "failed",
        MAX_ATTEMPTS,
        "smtp_error",
    )
    assert datas == MAX_ATTEMPTS
    assert [kind for kind, _ in events] == ["notification.failed"]
    assert deliverer.metrics.ended == {("email", "failed"): 1}


# --- fenced by the claim -----------------------------------------------------------------------


async def test_two_replicas_send_once_when_an_attempt_outlasts_the_lease(
    gateway: HttpSink, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Intake answers the contact after 7 s, longer than three 2 s leases (and than three
    send timeouts): the replica holding the claim keeps it while it works, so the other one
    never takes the delivery over, and the person gets one SMS. (The lease is not shorter, so
    that a busy machine's pauses do not let it run out between two renewals.)"""
    with SlowIntake(delay_s=7.0) as intake:
        settings = settings_for(database_url, redis_url, tmp_path, delivery_timeout_s=1.0,
                                delivery_lease_s=2.0, intake_timeout_s=15.0,
                                intake_url=f"http://127.0.0.1:{intake.port}",
                                sms_gateway_url=gateway.url("/sms"))  # fmt: skip
        async with notify_platform(settings) as platform:
            row = delivery(to_person=True)
            await record(platform, row)
            one, other = (Deliverer(platform, settings, MESSAGES) for _ in range(2))
            async with running(one, other):
                await settled(platform, row["delivery_id"], within_s=15)
                await asyncio.sleep(4.5)  # a second taker would have sent by now
            final = await row_of(platform, row["delivery_id"])
            events = [kind for kind, _ in await outcomes(platform, row["delivery_id"])]
    (sms,) = gateway.at("/sms")
    assert sms.json()["to"] == PERSON_PHONE
    assert (final.status, final.attempts, final.provider_message_id) == ("sent", 1, "m-1")
    assert events == ["notification.sent"]
    assert intake.reads == 1
    assert one.metrics.attempts + other.metrics.attempts == {("sms", "sent"): 1}
    assert one.metrics.ended + other.metrics.ended == {("sms", "sent"): 1}


# --- any sequence of peer behaviours -------------------------------------------------------------

BEHAVIOURS = ["ok", "500", "400", "html", "drop", "hang", "refused"]
ANSWERS: dict[str, int | str] = {"ok": 200, "500": 500, "400": 400, "html": "html",
                                 "drop": "drop", "hang": "hang"}  # fmt: skip


def expected(behaviours: list[str]) -> tuple[str, int]:
    """How the delivery must end when its attempts meet ``behaviours`` in turn (then "ok")."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        behaviour = behaviours[attempt - 1] if attempt <= len(behaviours) else "ok"
        if behaviour == "ok":
            return "sent", attempt
        if behaviour == "400":  # refused for good: no retry
            return "failed", attempt
    return "failed", MAX_ATTEMPTS


async def drive(platform: Platform, live: Deliverer, refusing: Deliverer,
                behaviours: list[str], delivery_id: str) -> Any:  # fmt: skip
    """Rounds of the replica each next attempt calls for (``refusing`` sends to a port nothing
    listens on), until the delivery ends; then a few more rounds, which must find nothing."""
    deadline = time.monotonic() + 30
    while (row := await row_of(platform, delivery_id)).status not in ("sent", "failed"):
        assert time.monotonic() < deadline, f"never ended: {row.status}, {row.attempts}"
        attempt = row.attempts
        refused = attempt < len(behaviours) and behaviours[attempt] == "refused"
        if not await (refusing if refused else live).round():
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert await live.round() + await refusing.round() == 0
    return row


@hypothesis_settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(behaviours=st.lists(st.sampled_from(BEHAVIOURS), max_size=MAX_ATTEMPTS + 1))
@example(behaviours=["html"] * (MAX_ATTEMPTS + 1))
@example(behaviours=["refused", "hang", "drop", "ok"])
def test_any_peer_behaviour_ends_in_sent_or_failed_within_the_limit_counted_exactly(
    behaviours: list[str], redis_url: str, tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}"
    with HttpSink(hang_s=1.5) as gateway:
        gateway.plans["/sms"] = [ANSWERS[b] for b in behaviours if b != "refused"]
        settings = settings_for(database_url, redis_url, tmp_path, delivery_timeout_s=1.0,
                                retry_base_s=0.01, retry_cap_s=0.02,
                                sms_gateway_url=gateway.url("/sms"))  # fmt: skip
        dead = settings.model_copy(update={"sms_gateway_url": f"http://127.0.0.1:{free_port()}/"})

        async def run() -> tuple[Any, list[tuple[str, dict[str, Any]]], Deliverer, Deliverer]:
            async with notify_platform(settings) as platform:
                live = Deliverer(platform, settings, MESSAGES)
                refusing = Deliverer(platform, dead, MESSAGES)
                try:
                    row = delivery()
                    await record(platform, row)
                    final = await drive(platform, live, refusing, behaviours, row["delivery_id"])
                    return final, await outcomes(platform, row["delivery_id"]), live, refusing
                finally:
                    await live.http.aclose()
                    await refusing.http.aclose()

        final, events, live, refusing = asyncio.run(run())
    status, attempts = expected(behaviours)
    assert (final.status, final.attempts) == (status, attempts)
    reached = [b for b in (behaviours + ["ok"] * MAX_ATTEMPTS)[:attempts] if b != "refused"]
    assert len(gateway.received) == len(reached)
    assert [(kind, data["attempts"]) for kind, data in events] == [
        (f"notification.{status}", attempts)
    ]
    counted = live.metrics.attempts + refusing.metrics.attempts
    failures = attempts - 1 if status == "sent" else attempts
    wanted = {("sms", "sent"): int(status == "sent"), ("sms", "failed"): failures}
    assert counted == {key: n for key, n in wanted.items() if n}
    assert live.metrics.ended + refusing.metrics.ended == {("sms", status): 1}
