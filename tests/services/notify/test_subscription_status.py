"""Pausing and resuming a subscription, by its owner, against notify disabling it: a disabled
subscription is not resumed (409, as a problem) and keeps its record, also when it is disabled
between the handler's read and its write (by another replica); and a pause does not clear since
when its deliveries fail, so pausing and resuming does not keep a dead endpoint alive."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.responses import JSONResponse

from services.notify import api_subscriptions, outages, store
from services.notify.api_subscriptions import SubscriptionOut
from shared.runtime import Platform
from tests.services.notify.test_delivery import notify_platform, row_of, settings_for
from tests.services.notify.test_subscription_outages import (
    delivery_to,
    subscription,
    subscription_row,
)

OWNER = SimpleNamespace(client_id="integrator-1")  # the client test_subscription_outages uses
URL = "https://hooks.example/hook"


async def _disable(platform: Platform, subscription_id: str) -> None:
    """Notify disables it, as a replica recording one failure too many does."""
    async with platform.unit_of_work() as uow:
        found = await store.subscription(uow.session, subscription_id)
        missed = await outages.disable(uow.session, found, datetime.now(UTC), outages.FAILING)
    assert missed is not None  # it was active: this disabled it


def _conflict(answer: Any) -> dict[str, Any]:
    assert isinstance(answer, JSONResponse)
    assert (answer.status_code, answer.media_type) == (409, "application/problem+json")
    body: dict[str, Any] = json.loads(bytes(answer.body))
    return body


@pytest.mark.parametrize("action", [api_subscriptions.resume, api_subscriptions.pause])
async def test_a_disabled_subscription_is_neither_resumed_nor_paused(
    action: Any, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, redis_url, tmp_path)
    async with notify_platform(settings) as platform:
        subscription_id = await subscription(platform, URL)
        missed = await delivery_to(platform, subscription_id, URL)
        await _disable(platform, subscription_id)
        answer = await action(subscription_id, platform, OWNER)
        found = await subscription_row(platform, subscription_id)
        waiting = await row_of(platform, missed["delivery_id"])
    assert _conflict(answer)["type"].endswith("subscription-disabled")
    assert (found.status, found.disabled_reason) == ("disabled", outages.FAILING)
    assert found.disabled_at is not None
    assert waiting.status == store.MISSED


async def test_a_subscription_disabled_between_the_read_and_the_write_stays_disabled(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler reads it active; another replica disables it; the resume's write must not
    make it active again with its disabled record and missed deliveries left behind."""
    settings = settings_for(database_url, redis_url, tmp_path)
    own = api_subscriptions._own

    async def read_then_disabled(platform: Platform, principal: Any, identifier: str) -> Any:
        found = await own(platform, principal, identifier)
        await _disable(platform, identifier)
        return found

    monkeypatch.setattr(api_subscriptions, "_own", read_then_disabled)
    async with notify_platform(settings) as platform:
        subscription_id = await subscription(platform, URL)
        answer = await api_subscriptions.resume(subscription_id, platform, OWNER)
        found = await subscription_row(platform, subscription_id)
    assert _conflict(answer)["status"] == 409
    assert (found.status, found.disabled_reason) == ("disabled", outages.FAILING)


async def test_pausing_and_resuming_keeps_since_when_deliveries_fail(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, redis_url, tmp_path)
    failing_since = datetime.now(UTC) - timedelta(days=3)
    async with notify_platform(settings) as platform:
        subscription_id = await subscription(platform, URL)
        async with platform.unit_of_work() as uow:
            await outages.failed(uow.session, subscription_id, failing_since, limit_s=5 * 86400)
        paused = await api_subscriptions.pause(subscription_id, platform, OWNER)
        resumed = await api_subscriptions.resume(subscription_id, platform, OWNER)
        found = await subscription_row(platform, subscription_id)
        async with platform.unit_of_work() as uow:  # two days on, it fails again: disabled
            missed = await outages.failed(uow.session, subscription_id,
                                          failing_since + timedelta(days=5), 5 * 86400)  # fmt: skip
        disabled = await subscription_row(platform, subscription_id)
    assert isinstance(paused, SubscriptionOut)
    assert isinstance(resumed, SubscriptionOut)
    assert (paused.status, resumed.status) == ("paused", "active")
    assert (found.status, found.failing_since) == ("active", failing_since)
    assert (missed, disabled.status) == (0, "disabled")


async def test_an_unknown_or_strangers_subscription_is_not_found(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, redis_url, tmp_path)
    async with notify_platform(settings) as platform:
        subscription_id = await subscription(platform, URL)
        stranger = SimpleNamespace(client_id="integrator-2")
        answers = [
            await api_subscriptions.resume(subscription_id, platform, stranger),
            await api_subscriptions.pause(str(subscription_id) + "x", platform, OWNER),
        ]
        found = await subscription_row(platform, subscription_id)
    assert [answer.status_code for answer in answers] == [404, 404]
    assert found.status == "active"
