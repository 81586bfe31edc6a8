"""Notify's tables and every query on them: the agency directory, integrators' subscriptions,
and the delivery log (one row per event and recipient, which is what makes a redelivered event
send nothing twice). Rows hold coded event data, never a message body or a person's contact.
Webhook signing secrets are stored sealed with notify's vault, bound to their agency or
subscription: the database alone does not let anyone sign as the platform."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from shared.db import UtcDateTime, new_metadata, upsert
from shared.vault import Vault, vault_of

metadata = new_metadata()

agencies = Table(
    "agencies",
    metadata,
    Column("agency_id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(30), nullable=False, index=True),
    Column("province", String(2), nullable=True),
    Column("ward", String(5), nullable=True),
    Column("emails", JSON, nullable=False),
    Column("phones", JSON, nullable=False),
    Column("webhooks", JSON, nullable=False),
    Column("webhook_secret", Text, nullable=True),  # sealed
    Column("language", String(5), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", String(40), primary_key=True),
    Column("client_id", String(40), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("province", String(2), nullable=True),
    Column("ward", String(5), nullable=True),
    Column("secret", Text, nullable=False),  # sealed
    Column("status", String(10), nullable=False),  # active | paused | disabled
    Column("created_at", UtcDateTime(), nullable=False),
    Column("contact_email", String(320), nullable=True),  # told if it is disabled
    Column("failing_since", UtcDateTime(), nullable=True),  # first failure since a success
    Column("disabled_at", UtcDateTime(), nullable=True),
    Column("disabled_reason", String(40), nullable=True),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", String(40), primary_key=True),
    Column("event_key", String(300), nullable=False),
    Column("recipient_key", String(300), nullable=False),
    Column("event_type", String(60), nullable=False),
    Column("case_id", String(40), nullable=True, index=True),
    Column("province", String(2), nullable=True),
    Column("recipient", String(30), nullable=False),
    Column("recipient_name", String(200), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("address", Text, nullable=True),
    Column("language", String(5), nullable=False),
    Column("event", JSON, nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False, index=True),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("claim", String(40), nullable=True),
    Column("last_error", String(200), nullable=True),
    Column("provider_message_id", String(200), nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    UniqueConstraint("event_key", "recipient_key"),
    Index("ix_deliveries_recipient_key_recorded_at", "recipient_key", "recorded_at"),
)

children = Table(
    "children",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("child", Boolean, nullable=False),
)

parked = Table(
    "parked_events",
    metadata,
    Column("event_key", String(300), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("time", UtcDateTime(), nullable=False),
    Column("event", JSON, nullable=False),
)
"""Case events that came before the case's ``case.received``: routed once it arrives."""

DUE = ("pending", "retrying")
SENDING = "sending"
MISSED = "missed"
"""A delivery to a disabled subscription: not sent, kept for a replay."""


async def remember_child(session: AsyncSession, case_id: str, child: bool) -> None:
    statement = upsert(session, children).values(case_id=case_id, child=child)
    await session.execute(statement.on_conflict_do_nothing())


async def is_child(session: AsyncSession, case_id: str) -> bool:
    rows = await session.execute(select(children.c.child).where(children.c.case_id == case_id))
    return bool(rows.scalar())


def agency_secret_context(agency_id: str) -> str:
    return f"agency-webhook-secret:{agency_id}"


def subscription_secret_context(subscription_id: str) -> str:
    return f"subscription-secret:{subscription_id}"


def _sealed_agency(session: AsyncSession, agency_id: str, values: Mapping[str, Any]) -> Any:
    if values.get("webhook_secret") is None:
        return values
    sealed = vault_of(session).seal_text(values["webhook_secret"], agency_secret_context(agency_id))
    return {**values, "webhook_secret": sealed}


def agency_secret(vault: Vault, row: Any) -> str | None:
    """The agency's webhook secret, opened (None if it has none)."""
    return vault.open_text(row.webhook_secret, agency_secret_context(row.agency_id))


def subscription_secret(vault: Vault, row: Any) -> str:
    """The subscription's signing secret, opened."""
    opened = vault.open_text(row.secret, subscription_secret_context(row.subscription_id))
    assert opened is not None  # every subscription has one
    return opened


async def add_agency(session: AsyncSession, values: Mapping[str, Any]) -> None:
    await session.execute(
        insert(agencies).values(**_sealed_agency(session, values["agency_id"], values))
    )


async def agency(session: AsyncSession, agency_id: str) -> Any:
    rows = await session.execute(select(agencies).where(agencies.c.agency_id == agency_id))
    return rows.first()


async def update_agency(session: AsyncSession, agency_id: str, values: Mapping[str, Any]) -> bool:
    result = await session.execute(
        update(agencies)
        .where(agencies.c.agency_id == agency_id)
        .values(**_sealed_agency(session, agency_id, values))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remove_agency(session: AsyncSession, agency_id: str) -> bool:
    result = await session.execute(delete(agencies).where(agencies.c.agency_id == agency_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_agencies(
    session: AsyncSession, *, province: str | None = None, kind: str | None = None
) -> list[Any]:
    statement = select(agencies)
    if province:
        statement = statement.where(agencies.c.province == province)
    if kind:
        statement = statement.where(agencies.c.kind == kind)
    rows = await session.execute(statement.order_by(agencies.c.province, agencies.c.name))
    return list(rows)


async def agencies_in(session: AsyncSession, province: str | None) -> list[Any]:
    """The agencies a case in ``province`` may concern: the province's and national ones."""
    statement = select(agencies).where(
        or_(agencies.c.province.is_(None), agencies.c.province == province)
    )
    return list(await session.execute(statement))


async def add_subscription(session: AsyncSession, values: Mapping[str, Any]) -> None:
    context = subscription_secret_context(values["subscription_id"])
    sealed = vault_of(session).seal_text(values["secret"], context)
    await session.execute(insert(subscriptions).values(**{**values, "secret": sealed}))


async def subscription(session: AsyncSession, subscription_id: str) -> Any:
    rows = await session.execute(
        select(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
    )
    return rows.first()


async def subscriptions_of(session: AsyncSession, client_id: str | None) -> list[Any]:
    statement = select(subscriptions)
    if client_id is not None:
        statement = statement.where(subscriptions.c.client_id == client_id)
    return list(await session.execute(statement.order_by(subscriptions.c.created_at)))


async def set_status(session: AsyncSession, subscription_id: str, client_id: str,
                     status: str) -> Any:  # fmt: skip
    """Pause or resume the client's subscription unless notify disabled it (perhaps just now,
    on another replica): the subscription as it is now, or None if it was not changed."""
    rows = await session.execute(
        update(subscriptions)
        .where(subscriptions.c.subscription_id == subscription_id,
               subscriptions.c.client_id == client_id, subscriptions.c.status != "disabled")
        .values(status=status)
        .returning(*subscriptions.c)
    )  # fmt: skip
    return rows.first()


async def wake(session: AsyncSession, recipient_key: str, now: datetime) -> None:
    """Make a recipient's waiting deliveries due now (a subscription resumed)."""
    await session.execute(
        update(deliveries)
        .where(deliveries.c.recipient_key == recipient_key, deliveries.c.status.in_(DUE))
        .values(next_attempt_at=now)
    )


async def remove_subscription(session: AsyncSession, subscription_id: str) -> None:
    await session.execute(
        delete(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
    )


async def add_deliveries(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record deliveries; one already recorded for the same event and recipient is kept."""
    for row in rows:
        statement = upsert(session, deliveries).values(**row)
        await session.execute(statement.on_conflict_do_nothing())


def _due(now: datetime) -> ColumnElement[bool]:
    """Waiting for its time, or claimed by an attempt whose lease ran out (a crashed or stalled
    replica's)."""
    return or_(
        deliveries.c.status.in_(DUE) & (deliveries.c.next_attempt_at <= now),
        (deliveries.c.status == SENDING) & (deliveries.c.lease_until < now),
    )


async def due(session: AsyncSession, now: datetime, limit: int) -> list[Any]:
    rows = await session.execute(
        select(deliveries).where(_due(now)).order_by(deliveries.c.next_attempt_at).limit(limit)
    )
    return list(rows)


async def claim(
    session: AsyncSession, row: Any, claim_id: str, now: datetime, lease_until: datetime
) -> bool:
    """Take a due delivery for one attempt, counted now (so an attempt that never ends still
    uses one up), under ``claim_id``; False if another replica took it first."""
    result = await session.execute(
        update(deliveries)
        .where(
            deliveries.c.delivery_id == row.delivery_id,
            deliveries.c.status == row.status,
            deliveries.c.attempts == row.attempts,
            _due(now),
        )
        .values(
            status=SENDING,
            claim=claim_id,
            lease_until=lease_until,
            attempts=deliveries.c.attempts + 1,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _held(delivery_id: str, claim_id: str | None) -> ColumnElement[bool]:
    claimed = deliveries.c.claim.is_(None) if claim_id is None else deliveries.c.claim == claim_id
    return and_(deliveries.c.delivery_id == delivery_id, deliveries.c.status == SENDING, claimed)


async def renew(
    session: AsyncSession, delivery_id: str, claim_id: str, now: datetime, lease_until: datetime
) -> bool:
    """Extend a claim's lease while it has not run out; False once it has (or was taken)."""
    result = await session.execute(
        update(deliveries)
        .where(_held(delivery_id, claim_id), deliveries.c.lease_until >= now)
        .values(lease_until=lease_until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def finish(
    session: AsyncSession,
    delivery_id: str,
    claim_id: str | None,
    values: Mapping[str, Any],
    *,
    expired_at: datetime | None = None,
) -> bool:
    """Record an attempt's outcome if ``claim_id`` still holds the delivery (and, given
    ``expired_at``, only if its lease had run out by then); False if another claim holds it."""
    statement = update(deliveries).where(_held(delivery_id, claim_id))
    if expired_at is not None:
        statement = statement.where(deliveries.c.lease_until < expired_at)
    result = await session.execute(statement.values(lease_until=None, **values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def queue(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Deliveries not sent, by (status, channel) (sent ones are counted as they end)."""
    d = deliveries
    rows = await session.execute(
        select(d.c.status, d.c.channel, func.count()).where(d.c.status != "sent")
        .group_by(d.c.status, d.c.channel)
    )  # fmt: skip
    return {(status, channel): int(n) for status, channel, n in rows}


async def delivery(session: AsyncSession, delivery_id: str) -> Any:
    rows = await session.execute(select(deliveries).where(deliveries.c.delivery_id == delivery_id))
    return rows.first()


async def list_deliveries(
    session: AsyncSession, *, case_id: str | None, status: str | None, limit: int
) -> list[Any]:
    statement = select(deliveries)
    if case_id:
        statement = statement.where(deliveries.c.case_id == case_id)
    if status:
        statement = statement.where(deliveries.c.status == status)
    rows = await session.execute(statement.order_by(deliveries.c.delivery_id).limit(limit))
    return list(rows)


async def replay(session: AsyncSession, delivery_ids: Sequence[str] | None, now: datetime) -> int:
    """Failed deliveries back to pending with fresh attempts; all of them when ids is None."""
    statement = update(deliveries).where(deliveries.c.status == "failed")
    if delivery_ids is not None:
        statement = statement.where(deliveries.c.delivery_id.in_(delivery_ids))
    result = await session.execute(
        statement.values(status="pending", attempts=0, next_attempt_at=now, last_error=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def park(session: AsyncSession, key: str, case_id: str, event: Mapping[str, Any]) -> None:
    statement = upsert(session, parked).values(
        event_key=key, case_id=case_id, time=datetime.fromisoformat(event["time"]), event=event
    )
    await session.execute(statement.on_conflict_do_nothing())


async def unpark(session: AsyncSession, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The case's parked events with their keys, oldest first, taken off the list."""
    rows = await session.execute(
        delete(parked)
        .where(parked.c.case_id == case_id)
        .returning(parked.c.event_key, parked.c.time, parked.c.event)
    )
    ordered = sorted(rows, key=lambda row: (row.time, row.event["id"], row.event_key))
    return [(row.event_key, row.event) for row in ordered]
