"""Subscriptions through an outage, on store's tables: since when a subscription's deliveries
fail, disabling it once that lasts too long (what waits for it is then missed, kept for a
replay) with a notice to its owner by mail, enabling it again, and replaying what it did not
get within a time range. The notice says which subscription and why, nothing of any case."""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from services.notify import domain, store
from services.notify.store import deliveries, subscriptions

log = logging.getLogger(__name__)

FAILING = "endpoint_failing"
"""Why a subscription was disabled: its deliveries kept failing."""
MISSED_REASON = "subscription_disabled"
NOTICE = "subscription.disabled"
"""The notice's type: the template it is written from, and what its outcome event is about."""
NOT_DELIVERED = ("failed", store.MISSED)


def recipient_key(subscription_id: str) -> str:
    return f"subscription:{subscription_id}"


def subscription_of(row: Any) -> str | None:
    """The subscription a delivery goes to, if it is a subscription's webhook."""
    kind, _, rest = str(row.recipient_key).partition(":")
    return rest.split(":")[0] if row.channel == "webhook" and kind == "subscription" else None


def _of(subscription_id: str) -> Any:
    return subscriptions.c.subscription_id == subscription_id


async def succeeded(session: AsyncSession, subscription_id: str) -> None:
    """A delivery got through: the subscription is not failing."""
    await session.execute(
        update(subscriptions)
        .where(_of(subscription_id), subscriptions.c.failing_since.is_not(None))
        .values(failing_since=None)
    )


async def failed(
    session: AsyncSession, subscription_id: str, now: datetime, limit_s: float
) -> int | None:
    """A delivery failed: remember since when, and disable the subscription once its
    deliveries have failed for ``limit_s`` with no success between. If this disabled it, how
    many deliveries waiting for it are missed."""
    active = (_of(subscription_id), subscriptions.c.status == "active")
    await session.execute(
        update(subscriptions)
        .where(*active, subscriptions.c.failing_since.is_(None))
        .values(failing_since=now)
    )
    found = await store.subscription(session, subscription_id)
    if found is None or not domain.failing_too_long(found.failing_since, now, limit_s):
        return None
    return await disable(session, found, now, FAILING)


async def disable(session: AsyncSession, found: Any, now: datetime, reason: str) -> int | None:
    """Disable an active subscription: what waits for it is missed (how many is returned), and
    its owner is told (once, whichever replica gets here first). None if it was not active."""
    result = await session.execute(
        update(subscriptions)
        .where(_of(found.subscription_id), subscriptions.c.status == "active")
        .values(status="disabled", disabled_at=now, disabled_reason=reason)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    missed = await session.execute(
        update(deliveries)
        .where(deliveries.c.recipient_key == recipient_key(found.subscription_id),
               deliveries.c.status.in_(store.DUE))
        .values(status=store.MISSED, last_error=MISSED_REASON)
    )  # fmt: skip
    if found.contact_email:
        await store.add_deliveries(session, [_notice(found, now, reason)])
    log.warning("subscription %s disabled: %s", found.subscription_id, reason)
    return int(missed.rowcount)  # type: ignore[attr-defined]


def _notice(found: Any, now: datetime, reason: str) -> dict[str, Any]:
    """The owner's notice, as a delivery by mail: sent, retried and recorded as any other."""
    notice_id = str(uuid7())
    event = {"specversion": "1.0", "id": notice_id, "source": "/safereturn/notify",
             "type": NOTICE, "time": now.isoformat(), "datacontenttype": "application/json",
             "data": {"subscription_id": found.subscription_id, "reason": reason,
                      "disabled_at": now.isoformat(), "province": found.province}}  # fmt: skip
    return {
        "delivery_id": str(uuid7()), "event_key": f"/safereturn/notify#{notice_id}",
        "recipient_key": f"subscription-owner:{found.subscription_id}", "event_type": NOTICE,
        "case_id": None, "province": found.province, "recipient": domain.INTEGRATOR,
        "recipient_name": found.subscription_id, "channel": "email",
        "address": found.contact_email, "language": "en", "event": event, "status": "pending",
        "attempts": 0, "next_attempt_at": now, "recorded_at": now,
    }  # fmt: skip


async def enable(session: AsyncSession, subscription_id: str) -> bool:
    """Enable a disabled subscription afresh; False if it was not disabled."""
    result = await session.execute(
        update(subscriptions)
        .where(_of(subscription_id), subscriptions.c.status == "disabled")
        .values(status="active", disabled_at=None, disabled_reason=None, failing_since=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def replay(
    session: AsyncSession, subscription_id: str, since: datetime, until: datetime,
    now: datetime, *, everything: bool = False,
) -> int:  # fmt: skip
    """Queue again, with fresh attempts and their own ids (so their webhook-id), the
    subscription's deliveries recorded in [since, until) that it did not get (failed, or missed
    while it was disabled), or all of them but those under way; how many."""
    statuses = (*NOT_DELIVERED, "sent") if everything else NOT_DELIVERED
    result = await session.execute(
        update(deliveries)
        .where(deliveries.c.recipient_key == recipient_key(subscription_id),
               deliveries.c.recorded_at >= since, deliveries.c.recorded_at < until,
               deliveries.c.status.in_(statuses))
        .values(status="pending", attempts=0, next_attempt_at=now, last_error=None, claim=None,
                lease_until=None, sent_at=None, latency_ms=None, provider_message_id=None)
    )  # fmt: skip
    return int(result.rowcount)  # type: ignore[attr-defined]
