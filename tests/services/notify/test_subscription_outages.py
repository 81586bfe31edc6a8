"""Subscriptions through an outage, with a real webhook receiver and SMTP server on loopback and
both databases: webhooks retried on their schedule, a subscription failing too long disabled
with one notice to its owner and what waits for it missed (no attempt used), a success between
failures keeping it alive, and a replay by time range queuing again what it did not get, under
the same ids."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from uuid6 import uuid7

from safereturn.sinks import HttpSink, SmtpSink
from services.notify import domain, outages, store
from services.notify.delivery import Deliverer
from services.notify.settings import NotifySettings
from shared.runtime import Platform
from tests.services.notify.test_delivery import (
    MESSAGES,
    notify_platform,
    outcomes,
    record,
    row_of,
    running,
    settings_for,
    settled,
)
from tests.services.notify.test_webhook_egress import LOOPBACK

OWNER = "ops@integrator.example"


@pytest.fixture
def receiver() -> Iterator[HttpSink]:
    with HttpSink() as sink:
        yield sink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def webhook_settings(
    database_url: str, redis_url: str, tmp_path: Path, smtp: SmtpSink, **changes: Any
) -> NotifySettings:
    values = {"webhook_allow_networks": LOOPBACK, "webhook_retry_schedule_s": [0.1, 0.2, 0.2],
              "webhook_retry_jitter": 0.0, "smtp_port": smtp.port} | changes  # fmt: skip
    return settings_for(database_url, redis_url, tmp_path, **values)


async def subscription(platform: Platform, url: str, contact: str | None = OWNER) -> str:
    subscription_id = str(uuid7())
    async with platform.unit_of_work() as uow:
        await store.add_subscription(uow.session, {
            "subscription_id": subscription_id, "client_id": "integrator-1", "url": url,
            "event_types": ["*"], "province": "11", "ward": None, "secret": "whsec_" + "A" * 32,
            "status": "active", "created_at": datetime.now(UTC), "contact_email": contact,
        })  # fmt: skip
    return subscription_id


async def delivery_to(
    platform: Platform, subscription_id: str, url: str, *, recorded_at: datetime | None = None,
    **changes: Any,
) -> dict[str, Any]:  # fmt: skip
    """One case event for the subscription, as the event handler records it."""
    case_id, now = f"case-{uuid7().hex[-8:]}", recorded_at or datetime.now(UTC)
    event = {"specversion": "1.0", "id": str(uuid7()), "source": "/safereturn/intake",
             "type": "case.received", "subject": case_id, "time": now.isoformat(),
             "data": {"case_id": case_id, "province": "11"}}  # fmt: skip
    row = {
        "delivery_id": str(uuid7()), "event_key": f"{event['source']}#{event['id']}",
        "recipient_key": outages.recipient_key(subscription_id), "event_type": event["type"],
        "case_id": case_id, "province": "11", "recipient": domain.INTEGRATOR,
        "recipient_name": subscription_id, "channel": "webhook", "address": url,
        "language": "en", "event": event, "status": "pending", "attempts": 0,
        "next_attempt_at": datetime.now(UTC), "recorded_at": now,
    } | changes  # fmt: skip
    await record(platform, row)
    return row


async def subscription_row(platform: Platform, subscription_id: str) -> Any:
    async with platform.database.reading() as session:
        return await store.subscription(session, subscription_id)


async def until(found: Any, within_s: float = 10.0) -> Any:
    for _ in range(int(within_s / 0.05)):
        if value := await found():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def test_a_webhook_is_retried_on_its_schedule_then_fails_once(
    receiver: HttpSink, smtp: SmtpSink, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    receiver.plans["/hook"] = [500] * 10
    settings = webhook_settings(database_url, redis_url, tmp_path, smtp)
    async with notify_platform(settings) as platform:
        url = receiver.url("/hook")
        row = await delivery_to(platform, await subscription(platform, url), url)
        async with running(deliverer := Deliverer(platform, settings, MESSAGES)):
            final = await settled(platform, row["delivery_id"], within_s=10)
            await asyncio.sleep(0.5)  # time for anything further
        events = await outcomes(platform, row["delivery_id"])
    assert (final.status, final.attempts, final.last_error) == ("failed", 4, "http_500")
    assert len(receiver.at("/hook")) == 4  # the first attempt and one after each wait
    assert {r.headers["webhook-id"] for r in receiver.at("/hook")} == {row["delivery_id"]}
    assert [(kind, data["attempts"]) for kind, data in events] == [("notification.failed", 4)]
    assert deliverer.metrics.attempts == {("webhook", "failed"): 4}


async def test_a_subscription_failing_too_long_is_disabled_and_its_owner_told_once(
    receiver: HttpSink, smtp: SmtpSink, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Its deliveries fail for longer than the limit: it is disabled, what waits for it is
    missed without another attempt, its owner gets one mail naming it (and no case), and what
    comes for it afterwards is missed too, never sent."""
    receiver.plans["/hook"] = [500] * 100
    settings = webhook_settings(database_url, redis_url, tmp_path, smtp,
                                webhook_retry_schedule_s=[0.2] * 20,
                                subscription_disable_after_s=0.5)  # fmt: skip
    async with notify_platform(settings) as platform:
        url = receiver.url("/hook")
        subscription_id = await subscription(platform, url)
        first = await delivery_to(platform, subscription_id, url)
        async with running(deliverer := Deliverer(platform, settings, MESSAGES)):
            disabled = await until(lambda: _disabled(platform, subscription_id))
            missed = await until(lambda: _missed(platform, first["delivery_id"]))
            tried = len(receiver.at("/hook"))
            later = await delivery_to(platform, subscription_id, url)
            after = await until(lambda: _missed(platform, later["delivery_id"]))
            (notice,) = await until(lambda: _as_list(smtp.to(OWNER)))
            await asyncio.sleep(0.5)  # time for a second notice, or another attempt
        assert (disabled.disabled_reason, disabled.failing_since is not None) == (
            outages.FAILING, True,
        )  # fmt: skip
        assert disabled.disabled_at is not None
        assert (missed.last_error, missed.attempts) == (outages.MISSED_REASON, tried)
        assert (after.attempts, len(receiver.at("/hook"))) == (0, tried)  # no attempt used
        assert len(smtp.to(OWNER)) == 1
        assert subscription_id in str(notice["Subject"])
        assert subscription_id in notice.get_content()
        assert first["case_id"] not in notice.as_string()
        assert deliverer.metrics.ended[("webhook", "missed")] == 2
        assert deliverer.metrics.ended[("email", "sent")] == 1


async def _disabled(platform: Platform, subscription_id: str) -> Any:
    found = await subscription_row(platform, subscription_id)
    return found if found.status == "disabled" else None


async def _missed(platform: Platform, delivery_id: str) -> Any:
    found = await row_of(platform, delivery_id)
    return found if found.status == store.MISSED else None


async def _as_list(found: list[Any]) -> list[Any]:
    return found


async def test_a_success_between_failures_keeps_a_subscription_enabled(
    receiver: HttpSink, smtp: SmtpSink, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    receiver.plans["/hook"] = [500, 200, 500, 200, 500, 200]
    settings = webhook_settings(database_url, redis_url, tmp_path, smtp,
                                webhook_retry_schedule_s=[0.4], webhook_retry_jitter=0.0,
                                subscription_disable_after_s=0.3)  # fmt: skip
    async with notify_platform(settings) as platform:
        url = receiver.url("/hook")
        subscription_id = await subscription(platform, url)
        async with running(Deliverer(platform, settings, MESSAGES)):
            for _ in range(3):  # each fails, then gets through 0.4 s later
                row = await delivery_to(platform, subscription_id, url)
                assert (await settled(platform, row["delivery_id"], within_s=10)).status == "sent"
        found = await subscription_row(platform, subscription_id)
    assert (found.status, found.failing_since) == ("active", None)
    assert smtp.messages == []


async def test_a_replay_queues_again_what_a_subscription_did_not_get_in_the_range(
    receiver: HttpSink, smtp: SmtpSink, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Failed and missed deliveries recorded within [since, until) go again, each under its
    own id (its webhook-id); those outside the range, or delivered, stay as they are unless
    everything is asked for."""
    settings = webhook_settings(database_url, redis_url, tmp_path, smtp)
    start = datetime.now(UTC) - timedelta(hours=6)
    async with notify_platform(settings) as platform:
        url = receiver.url("/hook")
        subscription_id = await subscription(platform, url)
        at = [start + timedelta(hours=hour) for hour in range(6)]
        rows = [await delivery_to(platform, subscription_id, url, recorded_at=at[0],
                                  status="failed", attempts=8, last_error="http_500"),
                await delivery_to(platform, subscription_id, url, recorded_at=at[1],
                                  status="failed", attempts=8, last_error="unreachable"),
                await delivery_to(platform, subscription_id, url, recorded_at=at[2],
                                  status=store.MISSED, last_error=outages.MISSED_REASON),
                await delivery_to(platform, subscription_id, url, recorded_at=at[3],
                                  status="sent", attempts=1),
                await delivery_to(platform, subscription_id, url, recorded_at=at[5],
                                  status="failed", attempts=8)]  # fmt: skip
        async with platform.unit_of_work() as uow:
            queued = await outages.replay(uow.session, subscription_id, at[1], at[4],
                                          datetime.now(UTC))  # fmt: skip
        assert queued == 2  # the second and third: the first and last lie outside
        async with running(Deliverer(platform, settings, MESSAGES)):
            for row in rows[1:3]:
                final = await settled(platform, row["delivery_id"], within_s=10)
                assert (final.status, final.attempts, final.last_error) == ("sent", 1, None)
        assert sorted(r.headers["webhook-id"] for r in receiver.at("/hook")) == sorted(
            [rows[1]["delivery_id"], rows[2]["delivery_id"]]
        )
        assert (await row_of(platform, rows[0]["delivery_id"])).status == "failed"
        assert (await row_of(platform, rows[4]["delivery_id"])).status == "failed"
        async with platform.unit_of_work() as uow:
            again = await outages.replay(uow.session, subscription_id, at[0], at[4],
                                         datetime.now(UTC), everything=True)  # fmt: skip
        assert again == 4  # the first (failed) and the three delivered by now
