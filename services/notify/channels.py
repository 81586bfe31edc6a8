"""The channels notify sends on: email over SMTP, SMS through a JSON gateway, webhooks signed as
the Standard Webhooks spec says. Each returns the provider's message id or raises
``DeliveryError`` with a coded reason (never an address or a body)."""

import base64
import json
import secrets
from datetime import UTC, datetime
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Any

import aiosmtplib
import httpx
from opentelemetry import trace
from standardwebhooks import Webhook

from services.notify.egress import NotPublic
from services.notify.messages import Message
from services.notify.settings import NotifySettings


class DeliveryError(Exception):
    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _http_error(response: httpx.Response) -> DeliveryError:
    status = response.status_code
    retryable = status >= 500 or status in (408, 429)
    return DeliveryError(f"http_{status}", retryable=retryable)


class Channels:
    def __init__(
        self,
        settings: NotifySettings,
        http: httpx.AsyncClient,
        webhooks: httpx.AsyncClient | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.settings = settings
        self.tracer = tracer or trace.get_tracer(__name__)
        self.http = http  # peers the operator configured: the SMS gateway
        self.webhooks = webhooks  # peers anyone may name: ``egress.webhook_client`` only

    async def email(self, to: str, message: Message, message_id: str) -> str:
        """Mail ``message``; ``message_id`` is the same on every attempt, so a receiver can
        drop a copy it already has."""
        settings = self.settings
        # The classic MIME classes: the newer EmailMessage folds long non-ASCII subjects and
        # loses the space at the fold (CPython's encoded-word folding), garbling Vietnamese.
        mail = MIMEText(message.body, "plain", "utf-8")
        mail["From"], mail["To"] = settings.smtp_sender, to
        mail["Subject"] = Header(message.subject, "utf-8")  # type: ignore[assignment]  # compat32 takes a Header
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = f"<{message_id}@safereturn.invalid>"
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        span = self.tracer.start_as_current_span(
            "smtp send", kind=trace.SpanKind.CLIENT,
            attributes={"server.address": settings.smtp_host, "server.port": settings.smtp_port},
        )  # fmt: skip
        try:
            with span:
                await aiosmtplib.send(
                    mail, hostname=settings.smtp_host, port=settings.smtp_port,
                    use_tls=settings.smtp_security == "tls",
                    start_tls=settings.smtp_security == "starttls",
                    username=settings.smtp_username, password=password,
                    timeout=settings.delivery_timeout_s,
                )  # fmt: skip
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise DeliveryError("smtp_recipient_refused", retryable=False) from error
        except aiosmtplib.SMTPTimeoutError as error:
            raise DeliveryError("timeout") from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryError("smtp_error") from error
        return str(mail["Message-ID"])

    async def sms(self, to: str, message: Message, reference: str) -> str:
        settings = self.settings
        if not settings.sms_gateway_url:
            raise DeliveryError("sms_gateway_not_configured")
        token = settings.sms_gateway_token
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        body = {"to": to, "text": message.body, "reference": reference}
        response = await self._post(settings.sms_gateway_url, json=body, headers=headers)
        try:
            found = response.json() if response.content else {}
        except ValueError as error:  # a proxy's or login page: whether it sent is unknown
            raise DeliveryError("bad_answer") from error
        if not isinstance(found, dict):
            raise DeliveryError("bad_answer")
        return str(found.get("message_id") or reference)

    async def webhook(self, url: str, secret: str, message_id: str, payload: dict[str, Any]) -> str:
        content = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        now = datetime.now(UTC)
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, now, content),
            "content-type": "application/json",
        }
        if self.webhooks is None:
            raise DeliveryError("webhooks_not_configured", retryable=False)
        await self._post(url, content=content.encode(), headers=headers, http=self.webhooks)
        return message_id

    async def _post(
        self, url: str, *, http: httpx.AsyncClient | None = None, **kwargs: Any
    ) -> httpx.Response:
        client = http or self.http
        try:
            response = await client.post(url, timeout=self.settings.delivery_timeout_s, **kwargs)
        except NotPublic as error:  # checked on the address it would have connected to
            raise DeliveryError("address_refused", retryable=False) from error
        except httpx.TimeoutException as error:
            raise DeliveryError("timeout") from error
        except httpx.HTTPError as error:
            raise DeliveryError("unreachable") from error
        if not response.is_success:
            raise _http_error(response)
        return response
