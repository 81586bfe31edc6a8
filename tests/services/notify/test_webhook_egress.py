"""A webhook reaches only public addresses, checked at every attempt on the address connected
to: a name that resolved to a public address when the subscription was made and to loopback
later (DNS rebinding) reaches nothing, with a real receiver on loopback to prove it; an allowed
network is reached, by the checked address, under the original name."""

import ipaddress
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from uuid6 import uuid7

from safereturn.sinks import HttpSink
from services.notify import domain, store
from services.notify.delivery import Deliverer
from services.notify.egress import internal_target
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
