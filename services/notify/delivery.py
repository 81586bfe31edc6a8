"""The delivery worker: takes due deliveries from the log, sends each once per attempt, retries
(mail and SMS with backoff and jitter, webhooks on a schedule spanning a day), leaves failing
endpoints alone (circuit breaker, rate limit: the delivery waits, using no attempt up), records
every outcome with its event, and disables a subscription failing for days (``outages``).

Replicas share the log. A delivery is claimed for one attempt under a fresh claim id and a lease;
the claim counts the attempt, so one that never ends still uses one up. While the attempt runs
its replica renews the lease, and checks it still holds the claim just before sending; its
outcome is recorded only if the claim is still its own. A claim whose lease ran out (a crashed
or stalled replica) is taken over: the delivery is tried again, or fails if that was its last
attempt. A crash after sending and before recording means the peer may get the message twice:
delivery is at least once, and every attempt carries the same id (webhook-id, Message-ID, the
SMS reference) so a receiver can tell a repeat."""

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.exc import DBAPIError
from uuid6 import uuid7

from services.notify import domain, outages, store
from services.notify.channels import Channels, DeliveryError
from services.notify.contacts import IntakeContacts
from services.notify.egress import Resolver, system_resolver, webhook_client
from services.notify.messages import Messages
from services.notify.metrics import DeliveryMetrics
from services.notify.settings import NotifySettings
from shared import tracing
from shared.events.notify import NotificationFailed, NotificationSent
from shared.ratelimit import RateLimiter
from shared.runtime import Platform

log = logging.getLogger(__name__)

EXPIRED = "lease_expired"
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


class Deliverer:
    def __init__(
        self,
        platform: Platform,
        settings: NotifySettings,
        messages: Messages,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.messages = messages
        self.breakers = domain.Breakers(settings.breaker_failures, settings.breaker_cooldown_s)
        self.retries = domain.Retries(
            settings.delivery_max_attempts, settings.retry_base_s, settings.retry_cap_s,
            tuple(settings.webhook_retry_schedule_s), settings.webhook_retry_jitter,
        )  # fmt: skip
        self.limiter = RateLimiter(
            platform.redis, "notify-endpoint", limit=settings.endpoint_rate_per_minute, window_s=60
        )
        self.http = httpx.AsyncClient()
        self.webhooks = webhook_client(resolver, settings.webhook_allow_networks)
        self.channels = Channels(settings, self.http, self.webhooks, platform.tracer)
        self.contacts = IntakeContacts(settings, self.http)
        self.channel_of: dict[str, str] = {}  # endpoint → its channel, for the breaker gauge
        self.metrics = DeliveryMetrics(platform)
        self.metrics.watch_breakers(self._open_breakers)
        self.lease = timedelta(seconds=settings.delivery_lease_s)

    async def run(self) -> None:
        try:
            while True:
                try:
                    done = await self.round()
                except Exception:
                    log.exception("delivery round failed; retrying")
                    done = 0
                if not done:
                    await asyncio.sleep(self.settings.delivery_poll_interval_s)
        finally:
            await self.http.aclose()
            await self.webhooks.aclose()

    async def round(self) -> int:
        """Claim what is due, attempt it all at once; how many deliveries were taken."""
        now = datetime.now(UTC)
        async with self.platform.database.reading() as session:
            rows = await store.due(session, now, self.settings.delivery_batch)
        claims, ended, due = [], 0, []
        for row in rows:
            if row.status == store.SENDING and row.attempts >= self.retries.attempts(row.channel):
                ended += await self._expired(row, now)
            else:
                due.append(row)
        if due:  # one transaction takes them all (a commit each bounded the rate of mail)
            async with self.platform.unit_of_work() as uow:
                for row in due:
                    claim = Claim(row, str(uuid7()))
                    if await store.claim(uow.session, row, claim.claim_id, now, now + self.lease):
                        claims.append(claim)
        for claim in claims:
            if claim.row.status == store.SENDING:  # the attempt before never ended
                self.metrics.attempted(claim.row.channel, "expired")
        results = await asyncio.gather(*(self.attempt(c) for c in claims), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):  # its lease runs out and another round takes it
                log.error("recording a delivery attempt failed: %s", type(result).__name__)
        return len(claims) + ended

    async def attempt(self, claim: Claim) -> None:
        """Try once, keeping the claim alive meanwhile; record how it went, if still ours. The
        attempt is a span of the trace the event carries (``traceparent``)."""
        row = claim.row
        with self.platform.tracer.start_as_current_span(
            f"{row.event_type} deliver", context=tracing.context_of(row.event),
            attributes={"safereturn.delivery.channel": row.channel,
                        "safereturn.delivery.attempt": claim.attempt,
                        "cloudevents.event_type": row.event_type},
        ):  # fmt: skip
            await self._attempt(claim)

    def _open_breakers(self) -> Counter[str]:
        return Counter(self.channel_of[endpoint] for endpoint in self.breakers.open_endpoints())

    async def _attempt(self, claim: Claim) -> None:
        row = claim.row
        endpoint = self._endpoint(row)
        self.channel_of[endpoint] = row.channel
        try:
            await self._ready(row, endpoint)
        except (_PutOff, _Missed, DeliveryError) as not_now:  # put off and missed: no attempt
            await self._record(claim, not_now)
            return
        trying = asyncio.create_task(self._try(claim, endpoint))
        keeping = asyncio.create_task(self._keep(claim, trying))
        try:
            try:
                outcome = await trying
            except asyncio.CancelledError:
                if not claim.lost:
                    raise
                outcome = _Lost()
            await self._record(claim, outcome)  # still holding the claim: no one sends again
        finally:
            keeping.cancel()

    async def _ready(self, row: Any, endpoint: str) -> None:
        """Raise ``_PutOff`` or ``_Missed`` if the delivery is not to be tried now: its
        subscription is paused or disabled, its endpoint's circuit is open or its rate used up."""
        if (subscription := outages.subscription_of(row)) is not None:
            async with self.platform.database.reading() as session:
                _check_standing(await store.subscription(session, subscription))
        wait = self.breakers.retry_in(endpoint, time.monotonic())
        if wait > 0:  # left alone until its cooldown ends: the delivery waits as long
            raise _PutOff(wait + random.random() * 0.1 * wait, "circuit_open")
        try:
            allowed = (await self.limiter.hit(endpoint)).allowed
        except Exception as error:  # Redis away: wait for it rather than use attempts up
            log.warning("the endpoint rate limit is unavailable: %s", type(error).__name__)
            raise _PutOff(1.0, "rate_limit_unavailable") from None
        if not allowed:
            raise _PutOff(1.0, "rate_limited")

    async def _record(self, claim: Claim, outcome: "Outcome") -> None:
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

    async def _recorded(self, claim: Claim, outcome: "Outcome") -> None:
        row = claim.row
        if isinstance(outcome, _Lost):
            log.warning("delivery %s attempt %d lost its claim", row.delivery_id, claim.attempt)
        elif isinstance(outcome, _PutOff):
            await self._later(claim, seconds=outcome.seconds, reason=outcome.reason)
        elif isinstance(outcome, _Missed):
            await self._missed(claim)
        elif isinstance(outcome, DeliveryError):
            await self._failed(claim, outcome)
        else:
            await self._sent(claim, outcome)

    async def _try(self, claim: Claim, endpoint: str) -> "Outcome":
        """The provider's message id, or why not; never raises but for cancellation."""
        try:
            async with asyncio.timeout(self.settings.delivery_attempt_timeout_s):
                if not self.breakers.allows(endpoint, time.monotonic()):  # another took the trial
                    retry_in = self.breakers.retry_in(endpoint, time.monotonic())
                    return _PutOff(retry_in, "circuit_open")
                provider_id = await self.send(claim)
        except (_PutOff, _Missed, _Lost) as outcome:
            return outcome
        except DeliveryError as error:
            failure = error
        except TimeoutError:
            failure = DeliveryError("timeout")
        except Exception as error:  # whatever breaks, the attempt ends and counts
            log.warning("delivery %s attempt %d: %s", claim.row.delivery_id, claim.attempt,
                        type(error).__name__)  # fmt: skip
            failure = DeliveryError(f"error_{type(error).__name__}"[:60])
        else:
            self.breakers.succeeded(endpoint)
            return provider_id
        self.breakers.failed(endpoint, time.monotonic())
        return failure

    async def send(self, claim: Claim) -> str:
        row = claim.row
        event: dict[str, Any] = row.event
        data = event.get("data") or {}
        if row.channel == "webhook":
            secret = await self._secret(row)
            await self._hold(claim)
            return await self.channels.webhook(row.address, secret, row.delivery_id, event)
        person = row.recipient == domain.PERSON
        message = self.messages.render(event["type"], data, row.language, row.recipient_name,
                                       person=person)  # fmt: skip
        if row.channel == "email":
            await self._hold(claim)
            return await self.channels.email(row.address, message, row.delivery_id)
        phone = await self.contacts.phone(row.case_id) if person else row.address
        await self._hold(claim)
        return await self.channels.sms(phone, message, reference=row.delivery_id)

    async def _hold(self, claim: Claim) -> None:
        """Renew the claim just before sending; a claim that ran out or was taken sends nothing."""
        now = datetime.now(UTC)
        async with self.platform.unit_of_work() as uow:
            held = await store.renew(uow.session, claim.row.delivery_id, claim.claim_id, now,
                                     now + self.lease)  # fmt: skip
        if not held:
            claim.lost = True
            raise _Lost

    async def _keep(self, claim: Claim, trying: "asyncio.Task[Any]") -> None:
        """Renew the lease while the attempt runs; stop the attempt once the claim is gone."""
        while True:
            await asyncio.sleep(self.settings.delivery_lease_s / 3)
            try:
                await self._hold(claim)
            except _Lost:
                trying.cancel()
                return
            except Exception as error:  # the lease may run out: then the outcome is not ours
                log.warning("renewing a delivery's lease failed: %s", type(error).__name__)

    async def _secret(self, row: Any) -> str:
        kind, identifier, *_ = row.recipient_key.split(":")
        async with self.platform.database.reading() as session:
            if kind == "subscription":
                found = await store.subscription(session, identifier)
                _check_standing(found)
                return store.subscription_secret(self.platform.vault, found)
            agency = await store.agency(session, identifier)
        secret = store.agency_secret(self.platform.vault, agency) if agency is not None else None
        if secret is None:
            raise DeliveryError("agency_removed", retryable=False)
        return secret

    def _endpoint(self, row: Any) -> str:
        settings = self.settings
        smtp = f"smtp://{settings.smtp_host}:{settings.smtp_port}"
        return domain.endpoint_of(row.channel, row.address, settings.sms_gateway_url, smtp)

    async def _later(self, claim: Claim, *, seconds: float, reason: str) -> None:
        """Put the delivery off without using an attempt up."""
        row = claim.row
        values = {"status": "retrying" if row.attempts else "pending", "attempts": row.attempts,
                  "next_attempt_at": datetime.now(UTC) + timedelta(seconds=seconds)}  # fmt: skip
        async with self.platform.unit_of_work() as uow:
            done = await store.finish(uow.session, row.delivery_id, claim.claim_id, values)
        if done:
            self.metrics.put_off(row.channel, reason)

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

    async def _failed(self, claim: Claim, error: DeliveryError) -> None:
        row, now, attempts, missed = claim.row, datetime.now(UTC), claim.attempt, None
        wait = self.retries.wait_s(row.channel, attempts, random.random())
        final = not error.retryable or wait is None
        values = {"status": "failed" if final else "retrying", "last_error": error.reason,
                  "next_attempt_at": now + timedelta(seconds=wait or 0.0)}  # fmt: skip
        async with self.platform.unit_of_work() as uow:
            done = await store.finish(uow.session, row.delivery_id, claim.claim_id, values)
            if done and final:
                failed = NotificationFailed(**_outcome(row, attempts), reason=error.reason)
                await uow.emit(failed, subject=row.case_id, time=now)
            if done and (subscription := outages.subscription_of(row)):
                limit_s = self.settings.subscription_disable_after_s
                missed = await outages.failed(uow.session, subscription, now, limit_s)
        self._counted(claim, done, "failed", "failed" if final else None)
        if done and missed:
            self.metrics.finished(row.channel, store.MISSED, missed)
        log.info("delivery %s attempt %d failed: %s", row.delivery_id, attempts, error.reason)

    def _counted(self, claim: Claim, done: bool, outcome: str, ended: str | None) -> None:
        if not done:  # taken over meanwhile: the new holder counts it as expired
            log.warning("delivery %s attempt %d lost its claim before recording",
                        claim.row.delivery_id, claim.attempt)  # fmt: skip
            return
        self.metrics.attempted(claim.row.channel, outcome)
        if ended:
            self.metrics.finished(claim.row.channel, ended)

    async def _expired(self, row: Any, now: datetime) -> int:
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


class _Lost(Exception):
    """The claim ran out or was taken over: this replica must neither send nor record."""


class _PutOff(Exception):
    """Not to be tried for ``seconds`` (paused, an open circuit, the rate): not an attempt."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds, self.reason = seconds, reason


class _Missed(Exception):
    """The subscription is disabled: the delivery is kept as missed, for a replay."""


Outcome = str | DeliveryError | _PutOff | _Missed | _Lost  # the provider's message id, or why not


def _check_standing(subscription: Any) -> None:
    """Raise unless the subscription takes deliveries now."""
    if subscription is None:
        raise DeliveryError("subscription_deleted", retryable=False)
    if subscription.status == "disabled":
        raise _Missed
    if subscription.status != "active":
        raise _PutOff(60.0, "paused")


def _outcome(row: Any, attempts: int) -> dict[str, Any]:
    return {"notification_id": row.delivery_id, "case_id": row.case_id,
            "about": row.event_type, "channel": row.channel, "recipient": row.recipient,
            "province": row.province, "attempts": attempts}  # fmt: skip
