"""The delivery worker: takes due deliveries from the log, sends each once per attempt, retries
(mail and SMS with backoff and jitter, webhooks on a schedule spanning a day), leaves failing
endpoints alone (circuit breaker, rate limit: the delivery waits, using no attempt up, for a
bounded time), and has every outcome recorded with its event (``outcomes``); a subscription
failing for days is disabled (``outages``).

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
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from uuid6 import uuid7

from services.notify import domain, outages, store
from services.notify.channels import Channels, DeliveryError
from services.notify.contacts import IntakeContacts
from services.notify.egress import Resolver, system_resolver, webhook_client
from services.notify.messages import Messages
from services.notify.metrics import DeliveryMetrics
from services.notify.outcomes import (
    CircuitOpen,
    Claim,
    Lost,
    Missed,
    Outcome,
    PutOff,
    Recorder,
    check_standing,
)
from services.notify.settings import NotifySettings
from shared import tracing
from shared.ratelimit import RateLimiter
from shared.runtime import Platform

log = logging.getLogger(__name__)


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
        self.recorder = Recorder(platform, self.retries, self.metrics,
                                 settings.subscription_disable_after_s)  # fmt: skip

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
                ended += await self.recorder.expired(row, now)
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
        except (PutOff, Missed, DeliveryError) as not_now:  # put off and missed: no attempt
            await self.recorder.record(claim, not_now)
            return
        trying = asyncio.create_task(self._try(claim, endpoint))
        keeping = asyncio.create_task(self._keep(claim, trying))
        try:
            try:
                outcome = await trying
            except asyncio.CancelledError:
                if not claim.lost:
                    raise
                outcome = Lost()
            await self.recorder.record(claim, outcome)  # still holding the claim: none sends
        finally:
            keeping.cancel()

    async def _ready(self, row: Any, endpoint: str) -> None:
        """Raise ``PutOff`` or ``Missed`` if the delivery is not to be tried now: its
        subscription is paused or disabled, its endpoint's circuit is open or its rate used up."""
        if (subscription := outages.subscription_of(row)) is not None:
            async with self.platform.database.reading() as session:
                check_standing(await store.subscription(session, subscription))
        wait = self.breakers.retry_in(endpoint, time.monotonic())
        if wait > 0:  # left alone until its cooldown ends: the delivery waits as long
            raise CircuitOpen(wait + random.random() * 0.1 * wait, endpoint)
        try:
            allowed = (await self.limiter.hit(endpoint)).allowed
        except Exception as error:  # Redis away: wait for it rather than use attempts up
            log.warning("the endpoint rate limit is unavailable: %s", type(error).__name__)
            raise PutOff(1.0, "rate_limit_unavailable") from None
        if not allowed:
            raise PutOff(1.0, "rate_limited")

    async def _try(self, claim: Claim, endpoint: str) -> Outcome:
        """The provider's message id, or why not; never raises but for cancellation."""
        try:
            async with asyncio.timeout(self.settings.delivery_attempt_timeout_s):
                if not self.breakers.allows(endpoint, time.monotonic()):  # another took the trial
                    retry_in = self.breakers.retry_in(endpoint, time.monotonic())
                    return CircuitOpen(retry_in, endpoint)
                provider_id = await self.send(claim)
        except (PutOff, Missed, Lost) as outcome:
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
            raise Lost

    async def _keep(self, claim: Claim, trying: "asyncio.Task[Any]") -> None:
        """Renew the lease while the attempt runs; stop the attempt once the claim is gone."""
        while True:
            await asyncio.sleep(self.settings.delivery_lease_s / 3)
            try:
                await self._hold(claim)
            except Lost:
                trying.cancel()
                return
            except Exception as error:  # the lease may run out: then the outcome is not ours
                log.warning("renewing a delivery's lease failed: %s", type(error).__name__)

    async def _secret(self, row: Any) -> str:
        kind, identifier, *_ = row.recipient_key.split(":")
        async with self.platform.database.reading() as session:
            if kind == "subscription":
                found = await store.subscription(session, identifier)
                check_standing(found)
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
