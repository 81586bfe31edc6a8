"""The delivery worker: takes due deliveries from the log, sends each once per attempt, retries
with backoff and jitter, leaves failing endpoints alone (circuit breaker, rate limit), and
records every outcome with its event. Replicas share the log: a delivery is claimed before it
is sent, and a claim that outlives its lease (a crashed replica) becomes due again."""

import asyncio
import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.notify import domain, store
from services.notify.channels import Channels, DeliveryError
from services.notify.messages import Messages
from services.notify.settings import NotifySettings
from shared.events.notify import NotificationFailed, NotificationSent
from shared.ratelimit import RateLimiter
from shared.runtime import Platform

log = logging.getLogger(__name__)


class IntakeContacts:
    """The person's phone, asked of intake at send time with notify's own credential (intake
    audits the read); never stored here."""

    def __init__(self, settings: NotifySettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._token: tuple[str, float] | None = None

    async def phone(self, case_id: str) -> str:
        answer = await self.http.get(
            f"{self.settings.intake}/v1/cases/{case_id}/contact",
            headers={"Authorization": f"Bearer {await self._bearer()}"},
        )
        if answer.status_code == 401:
            self._token = None
        if not answer.is_success:
            raise DeliveryError(f"contact_http_{answer.status_code}")
        contact = answer.json()
        if contact["consent"].get("services") is not True:
            raise DeliveryError("no_consent", retryable=False)
        if not contact.get("phone"):
            raise DeliveryError("no_contact", retryable=False)
        return str(contact["phone"])

    async def _bearer(self) -> str:
        if self._token and self._token[1] > time.monotonic():
            return self._token[0]
        try:
            credentials = json.loads(self.settings.credentials_file.read_text())
        except (OSError, ValueError) as error:
            raise DeliveryError("no_intake_credential") from error
        answer = await self.http.post(
            f"{self.settings.intake}/oauth/token",
            data={"grant_type": "client_credentials", **credentials},
        )
        if not answer.is_success:
            raise DeliveryError("intake_token_refused")
        body = answer.json()
        self._token = (body["access_token"], time.monotonic() + body["expires_in"] / 2)
        return self._token[0]


class Deliverer:
    def __init__(self, platform: Platform, settings: NotifySettings, messages: Messages) -> None:
        self.platform = platform
        self.settings = settings
        self.messages = messages
        self.breakers = domain.Breakers(settings.breaker_failures, settings.breaker_cooldown_s)
        self.limiter = RateLimiter(
            platform.redis, "notify-endpoint", limit=settings.endpoint_rate_per_minute, window_s=60
        )
        self.http = httpx.AsyncClient()
        self.channels = Channels(settings, self.http)
        self.contacts = IntakeContacts(settings, self.http)

    async def run(self) -> None:
        try:
            while True:
                try:
                    sent = await self.round()
                except Exception:
                    log.exception("delivery round failed; retrying")
                    sent = 0
                if not sent:
                    await asyncio.sleep(self.settings.delivery_poll_interval_s)
        finally:
            await self.http.aclose()

    async def round(self) -> int:
        """Claim what is due, attempt it all at once; how many were attempted."""
        now = datetime.now(UTC)
        lease = now + timedelta(seconds=self.settings.delivery_timeout_s * 3)
        async with self.platform.database.reading() as session:
            rows = await store.due(session, now, self.settings.delivery_batch)
        claimed = []
        for row in rows:
            async with self.platform.unit_of_work() as uow:
                if await store.claim(uow.session, row, now, lease):
                    claimed.append(row)
        await asyncio.gather(*(self.attempt(row) for row in claimed))
        return len(claimed)

    async def attempt(self, row: Any) -> None:
        settings = self.settings
        endpoint = domain.endpoint_of(
            row.channel,
            row.address,
            settings.sms_gateway_url,
            f"smtp://{settings.smtp_host}:{settings.smtp_port}",
        )
        if not (await self.limiter.hit(endpoint)).allowed:
            await self._later(row, seconds=1.0)  # over the endpoint's rate: not an attempt
            return
        try:
            if not self.breakers.allows(endpoint, time.monotonic()):
                raise DeliveryError("circuit_open")
            provider_id = await self.send(row)
        except DeliveryError as error:
            if error.reason != "circuit_open":
                self.breakers.failed(endpoint, time.monotonic())
            await self._failed(row, error)
        except _Paused:
            await self._later(row, seconds=60.0)
        else:
            self.breakers.succeeded(endpoint)
            await self._sent(row, provider_id)

    async def send(self, row: Any) -> str:
        event: dict[str, Any] = row.event
        data = event.get("data") or {}
        if row.channel == "webhook":
            return await self.channels.webhook(row.address, await self._secret(row),
                                               row.delivery_id, event)  # fmt: skip
        person = row.recipient == domain.PERSON
        message = self.messages.render(event["type"], data, row.language, row.recipient_name,
                                       person=person)  # fmt: skip
        if row.channel == "email":
            return await self.channels.email(row.address, message)
        phone = await self.contacts.phone(row.case_id) if person else row.address
        return await self.channels.sms(phone, message, reference=row.delivery_id)

    async def _secret(self, row: Any) -> str:
        kind, identifier, *_ = row.recipient_key.split(":")
        async with self.platform.database.reading() as session:
            if kind == "subscription":
                found = await store.subscription(session, identifier)
                if found is None:
                    raise DeliveryError("subscription_deleted", retryable=False)
                if found.status != "active":
                    raise _Paused
                return str(found.secret)
            agency = await store.agency(session, identifier)
        if agency is None or not agency.webhook_secret:
            raise DeliveryError("agency_removed", retryable=False)
        return str(agency.webhook_secret)

    async def _later(self, row: Any, *, seconds: float) -> None:
        when = datetime.now(UTC) + timedelta(seconds=seconds)
        async with self.platform.unit_of_work() as uow:
            await store.finish(uow.session, row.delivery_id,
                               {"status": "retrying" if row.attempts else "pending",
                                "next_attempt_at": when, "lease_until": None})  # fmt: skip

    async def _sent(self, row: Any, provider_id: str) -> None:
        now = datetime.now(UTC)
        latency = int((now - row.recorded_at).total_seconds() * 1000)
        values = {"status": "sent", "attempts": row.attempts + 1, "sent_at": now,
                  "latency_ms": latency, "provider_message_id": provider_id[:200],
                  "lease_until": None, "last_error": None}  # fmt: skip
        async with self.platform.unit_of_work() as uow:
            await store.finish(uow.session, row.delivery_id, values)
            sent = NotificationSent(**_outcome(row, row.attempts + 1), latency_ms=latency)
            await uow.emit(sent, subject=row.case_id, time=now)

    async def _failed(self, row: Any, error: DeliveryError) -> None:
        now, attempts = datetime.now(UTC), row.attempts + 1
        final = not error.retryable or attempts >= self.settings.delivery_max_attempts
        wait = domain.backoff_s(
            attempts, self.settings.retry_base_s, self.settings.retry_cap_s, random.random()
        )
        values = {"status": "failed" if final else "retrying", "attempts": attempts,
                  "last_error": error.reason, "lease_until": None,
                  "next_attempt_at": now + timedelta(seconds=wait)}  # fmt: skip
        async with self.platform.unit_of_work() as uow:
            await store.finish(uow.session, row.delivery_id, values)
            if final:
                failed = NotificationFailed(**_outcome(row, attempts), reason=error.reason)
                await uow.emit(failed, subject=row.case_id, time=now)
        log.info("delivery %s attempt %d failed: %s", row.delivery_id, attempts, error.reason)


class _Paused(Exception):
    """The integrator paused the subscription: try again later, not an attempt."""


def _outcome(row: Any, attempts: int) -> dict[str, Any]:
    return {"notification_id": row.delivery_id, "case_id": row.case_id,
            "about": row.event_type, "channel": row.channel, "recipient": row.recipient,
            "province": row.province, "attempts": attempts}  # fmt: skip
