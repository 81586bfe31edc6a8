"""How a delivery's attempt ends, recorded only while its claim is still the replica's own: sent,
failed (to be retried, or for good), put off without using an attempt up (a paused
subscription, the endpoint's rate, its open circuit), missed (its subscription disabled), or
expired (the replica holding its last attempt died). Each outcome is written together with its
``notification.*`` event, in one transaction, and counted once.

An open circuit puts a delivery off until the endpoint's cooldown ends, and with it every other
delivery waiting for that endpoint, in one update, so they are not taken one by one at each
cooldown. That is bounded: a delivery an open circuit has already put off, meeting it open again
longer than its channel's retry span after it was recorded, fails as ``circuit_open``; a
delivery behind a dead endpoint is then told failed about when it would have been had each of
its attempts reached the endpoint and failed."""

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from services.notify import domain, outages, store
from services.notify.channels import DeliveryError
from services.notify.metrics import DeliveryMetrics
from shared.events.notify import NotificationFailed, NotificationSent
from shared.runtime import Platform

log = logging.getLogger(__name__)

EXPIRED = "lease_expired"
CIRCUIT_OPEN = "circuit_open"
RECORD_RETRY_WAITS_S = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)  # then the round logs it; the lease runs out


@dataclass
class Claim:
    """One attempt at one delivery, as this replica holds it."""

    row: Any
    claim_id: str
    lost: bool = False

    @property
    def attempt(self) -> int:
        return int(self.row.attempts) + 1


class Lost(Exception):
    """The claim ran out or was taken over: this replica must neither send nor record."""


class PutOff(Exception):
    """Not to be tried for ``seconds`` (paused, the rate): not an attempt."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds, self.reason = seconds, reason


class CircuitOpen(PutOff):
    """The endpoint's circuit is open for ``seconds`` more: not an attempt, within a bound."""

    def __init__(self, seconds: float, endpoint: str) -> None:
        super().__init__(seconds, CIRCUIT_OPEN)
        self.endpoint = endpoint


class Missed(Exception):
    """The subscription is disabled: the delivery is kept as missed, for a replay."""


Outcome = str | DeliveryError | PutOff | Missed | Lost  # the provider's message id, or why not


def check_standing(subscription: Any) -> None:
    """Raise unless the subscription takes deliveries now."""
    if subscription is None:
        raise DeliveryError("subscription_deleted", retryable=False)
    if subscription.status == "disabled":
        raise Missed
    if subscription.status != "active":
        raise PutOff(60.0, "paused")


class Recorder:
    """Writes attempts' outcomes to the delivery log, with their events and counts."""

    def __init__(self, platform: Platform, retries: domain.Retries, metrics: DeliveryMetrics,
                 disable_after_s: float) -> None:  # fmt: skip
        self.platform = platform
        self.retries = retries
        self.metrics = metrics
        self.disable_after_s = disable_after_s

    async def record(self, claim: Claim, outcome: Outcome) -> None:
        """Record how the attempt went. A message went out whatever the database says now, so
        a failure to record it (a locked or lost database) is retried while the claim is kept;
        given up, the claim runs out and the message may go out a second time."""
        for wait in RECORD_RETRY_WAITS_S:
            try:
                await self._recorded(claim, outcome)
                return
            except DBAPIError as error:
                log.warning("recording delivery %s failed (%s); retrying in %.1f s",
                            claim.row.delivery_id, type(error).__name__, wait)  # fmt: skip
                await asyncio.sleep(wait)
        await self._recorded(claim, outcome)

    async def _recorded(self, claim: Claim, outcome: Outcome) -> None:
        row = claim.row
        if isinstance(outcome, Lost):
            log.warning("delivery %s attempt %d lost its claim", row.delivery_id, claim.attempt)
        elif isinstance(outcome, CircuitOpen):
            await self._circuit_open(claim, outcome)
        elif isinstance(outcome, PutOff):
            await self._later(claim, seconds=outcome.seconds, reason=outcome.reason)
        elif isinstance(outcome, Missed):
            await self._missed(claim)
        elif isinstance(outcome, DeliveryError):
            await self._failed(claim, outcome)
        else:
            await self._sent(claim, outcome)

    async def _later(self, claim: Claim, *, seconds: float, reason: str) -> None:
        """Put the delivery off without using an attempt up."""
        row = claim.row
        values = {"status": "retrying" if row.attempts else "pending", "attempts": row.attempts,
                  "next_attempt_at": datetime.now(UTC) + timedelta(seconds=seconds)}  # fmt: skip
        async with self.platform.unit_of_work() as uow:
            done = await store.finish(uow.session, row.delivery_id, claim.claim_id, values)
        if done:
            self.metrics.put_off(row.channel, reason)

    def _past_bound(self, row: Any, now: datetime) -> bool:
        """Put off by an open circuit before, and recorded longer ago than its retries span.
        (Having been put off once is asked for so that a delivery replayed long after it was
        recorded gets a cooldown's time, not failing at once behind a circuit on trial.)"""
        span = timedelta(seconds=self.retries.span_s(row.channel))
        return bool(row.last_error == CIRCUIT_OPEN and now - row.recorded_at > span)

    async def _circuit_open(self, claim: Claim, circuit: CircuitOpen) -> None:
        """Put the delivery off until the endpoint's cooldown ends, and every other delivery
        waiting for it with it; or fail it as ``circuit_open`` once past the bound."""
        row, now = claim.row, datetime.now(UTC)
        if self._past_bound(row, now):
            await self._failed(claim, DeliveryError(CIRCUIT_OPEN, retryable=False), tried=False)
            return
        until = now + timedelta(seconds=circuit.seconds)
        values = {"status": "retrying" if row.attempts else "pending", "attempts": row.attempts,
                  "next_attempt_at": until, "last_error": CIRCUIT_OPEN}  # fmt: skip
        origin = circuit.endpoint if row.channel == "webhook" else None  # else all the channel's
        others = 0
        async with self.platform.unit_of_work() as uow:
            done = await store.finish(uow.session, row.delivery_id, claim.claim_id, values)
            if done:
                others = await store.put_off_endpoint(uow.session, row.channel, origin, until,
                                                      CIRCUIT_OPEN)  # fmt: skip
        if done:
            self.metrics.put_off(row.channel, CIRCUIT_OPEN)
            log.info("circuit of %s open: %d more deliveries put off", circuit.endpoint, others)

    async def _missed(self, claim: Claim) -> None:
        """The subscription is disabled: the delivery is kept as missed, using no attempt up."""
        row = claim.row
        values = {"status": store.MISSED, "attempts": row.attempts, "next_attempt_at":
                  datetime.now(UTC), "last_error": outages.MISSED_REASON}  # fmt: skip
        async with self.platform.unit_of_work() as uow:
            done = await store.finish(uow.session, row.delivery_id, claim.claim_id, values)
        if done:
            self.metrics.finished(row.channel, store.MISSED)

    async def _sent(self, claim: Claim, provider_id: str) -> None:
        row, now = claim.row, datetime.now(UTC)
        latency = int((now - row.recorded_at).total_seconds() * 1000)
        values = {"status": "sent", "sent_at": now, "latency_ms": latency,
                  "provider_message_id": provider_id[:200], "last_error": None}  # fmt: skip
        async with self.platform.unit_of_work() as uow:
            done = await store.finish(uow.session, row.delivery_id, claim.claim_id, values)
            if done:
                sent = NotificationSent(**_outcome(row, claim.attempt), latency_ms=latency)
                await uow.emit(sent, subject=row.case_id, time=now)
                if subscription := outages.subscription_of(row):
                    await outages.succeeded(uow.session, subscription)
        self._counted(claim, done, "sent", "sent")
        if done:
            self.metrics.sent(row.channel, latency / 1000)

    async def _failed(self, claim: Claim, error: DeliveryError, *, tried: bool = True) -> None:
        """A failed attempt, retried after a wait or failed for good; ``tried`` False: the
        delivery fails for good without this attempt (which is given back)."""
        row, now, missed = claim.row, datetime.now(UTC), None
        attempts = claim.attempt if tried else row.attempts
        wait = self.retries.wait_s(row.channel, attempts, random.random())
        final = not error.retryable or wait is None
        values = {"status": "failed" if final else "retrying", "last_error": error.reason,
                  "attempts": attempts,
                  "next_attempt_at": now + timedelta(seconds=wait or 0.0)}  # fmt: skip
        async with self.platform.unit_of_work() as uow:
            done = await store.finish(uow.session, row.delivery_id, claim.claim_id, values)
            if done and final:
                failed = NotificationFailed(**_outcome(row, attempts), reason=error.reason)
                await uow.emit(failed, subject=row.case_id, time=now)
            if done and (subscription := outages.subscription_of(row)):
                limit_s = self.disable_after_s
                missed = await outages.failed(uow.session, subscription, now, limit_s)
        self._counted(claim, done, "failed" if tried else None, "failed" if final else None)
        if done and missed:
            self.metrics.finished(row.channel, store.MISSED, missed)
        log.info("delivery %s attempt %d failed: %s", row.delivery_id, attempts, error.reason)

    def _counted(self, claim: Claim, done: bool, outcome: str | None, ended: str | None) -> None:
        if not done:  # taken over meanwhile: the new holder counts it as expired
            log.warning("delivery %s attempt %d lost its claim before recording",
                        claim.row.delivery_id, claim.attempt)  # fmt: skip
            return
        if outcome:
            self.metrics.attempted(claim.row.channel, outcome)
        if ended:
            self.metrics.finished(claim.row.channel, ended)

    async def expired(self, row: Any, now: datetime) -> int:
        """The last attempt's claim ran out without an outcome: the delivery failed."""
        values = {"status": "failed", "last_error": EXPIRED, "next_attempt_at": now}
        async with self.platform.unit_of_work() as uow:
            done = await store.finish(uow.session, row.delivery_id, row.claim, values,
                                      expired_at=now)  # fmt: skip
            if done:
                failed = NotificationFailed(**_outcome(row, row.attempts), reason=EXPIRED)
                await uow.emit(failed, subject=row.case_id, time=now)
        if done:
            self.metrics.attempted(row.channel, "expired")
            self.metrics.finished(row.channel, "failed")
        return int(done)


def _outcome(row: Any, attempts: int) -> dict[str, Any]:
    return {"notification_id": row.delivery_id, "case_id": row.case_id,
            "about": row.event_type, "channel": row.channel, "recipient": row.recipient,
            "province": row.province, "attempts": attempts}  # fmt: skip
