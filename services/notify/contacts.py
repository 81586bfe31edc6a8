"""The person's phone, asked of intake at send time with notify's own service credential (intake
audits the read); never stored here. Whatever goes wrong on the way is a coded ``DeliveryError``:
a broken answer from intake is an attempt that failed, retried like any other."""

import json
import time
from typing import Any

import httpx

from services.notify.channels import DeliveryError
from services.notify.settings import NotifySettings


class IntakeContacts:
    def __init__(self, settings: NotifySettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._token: tuple[str, float] | None = None

    async def phone(self, case_id: str) -> str:
        """The phone to text, if the person consented to hear from services."""
        answer = await self._call(
            "GET",
            f"/v1/cases/{case_id}/contact",
            headers={"Authorization": f"Bearer {await self._bearer()}"},
        )
        if answer.status_code == 401:
            self._token = None
        if not answer.is_success:
            raise DeliveryError(f"contact_http_{answer.status_code}")
        contact = _json(answer, "contact_bad_answer")
        consent = contact.get("consent")
        if not isinstance(consent, dict) or consent.get("services") is not True:
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
        answer = await self._call(
            "POST", "/oauth/token", data={"grant_type": "client_credentials", **credentials}
        )
        if not answer.is_success:
            raise DeliveryError("intake_token_refused")
        body = _json(answer, "intake_token_bad_answer")
        try:
            self._token = (str(body["access_token"]),
                           time.monotonic() + float(body["expires_in"]) / 2)  # fmt: skip
        except (KeyError, TypeError, ValueError) as error:
            raise DeliveryError("intake_token_bad_answer") from error
        return self._token[0]

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(
                method, f"{self.settings.intake}{path}", timeout=self.settings.intake_timeout_s,
                **kwargs,
            )  # fmt: skip
        except httpx.TimeoutException as error:
            raise DeliveryError("contact_timeout") from error
        except httpx.HTTPError as error:
            raise DeliveryError("contact_unreachable") from error


def _json(answer: httpx.Response, reason: str) -> dict[str, Any]:
    try:
        found = answer.json()
    except ValueError as error:
        raise DeliveryError(reason) from error
    if not isinstance(found, dict):
        raise DeliveryError(reason)
    return found
