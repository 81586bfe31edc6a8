"""Notify's rules. Pure: who must hear of an event (routing rules as data, the agency directory,
integrators' subscriptions), when to try again, when an endpoint is left alone, and when a
failing subscription is disabled."""

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field


class AgencyKind(StrEnum):
    COMMUNE_COMMITTEE = "commune_committee"
    COMMUNE_POLICE = "commune_police"
    PROVINCIAL_POLICE = "provincial_police"
    BORDER_GUARD = "border_guard"
    SOCIAL_PROTECTION = "social_protection"
    WOMENS_UNION = "womens_union"
    HEALTH_CENTRE = "health_centre"
    LEGAL_AID = "legal_aid"
    SCHOOL = "school"
    NGO = "ngo"
    CHILD_PROTECTION = "child_protection"


class Level(StrEnum):
    COMMUNE = "commune"  # the case's commune
    PROVINCE = "province"  # the case's province, at provincial level
    NEAREST = "nearest"  # the commune's agency, else the province's
    NATIONAL = "national"


PROVIDER = "provider"  # the agency an event names as its provider (a referral)
PERSON = "person"  # the person themselves, only with consent, contact fetched at send time
INTEGRATOR = "integrator"
REVIEW_ONLY = frozenset({"case.duplicate_suspected"})
"""Events for a reviewer, never for integrators: a suspected duplicate names another case,
perhaps outside the integrator's area, and would tell it that the person is known there."""


class RoutingError(ValueError):
    """A routing file that cannot be trusted."""


class _RouteRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    event: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")
    recipients: list[str] = Field(min_length=1)
    when: dict[str, bool | str | list[str]] = Field(default_factory=dict)
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Recipient:
    kind: str  # an agency kind, PROVIDER or PERSON
    level: Level | None = None

    @classmethod
    def parse(cls, text: str) -> "Recipient":
        if text in (PROVIDER, PERSON):
            return cls(text)
        kind, _, level = text.partition("@")
        try:
            return cls(AgencyKind(kind), Level(level or Level.NEAREST))
        except ValueError as error:
            raise RoutingError(f"recipient {text!r}: {error}") from error


Choices = tuple[Recipient, ...]
"""A recipient and its fallbacks ("a|b"): the first that names an agency is used."""


def parse_choices(text: str) -> Choices:
    return tuple(Recipient.parse(part.strip()) for part in text.split("|"))


@dataclass(frozen=True, slots=True)
class Route:
    """Event type and conditions → recipients."""

    id: str
    event: str
    recipients: tuple[Choices, ...]
    when: Mapping[str, Any] = field(default_factory=dict)

    def applies(self, event_type: str, context: Mapping[str, Any]) -> bool:
        if event_type != self.event:
            return False
        for name, wanted in self.when.items():
            value = context.get(name)
            if value not in (wanted if isinstance(wanted, list) else [wanted]):
                return False
        return True


def load_routes(path: Path) -> list[Route]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        if set(document) - {"route"}:
            raise ValueError(f"unknown keys {sorted(set(document) - {'route'})}: only [[route]]")
        parsed = [_RouteRow.model_validate(row) for row in document.get("route", [])]
    except (tomllib.TOMLDecodeError, ValueError) as error:
        raise RoutingError(f"{path.name}: {error}") from error
    if len({row.id for row in parsed}) != len(parsed):
        raise RoutingError(f"{path.name}: route ids repeat")
    return [
        Route(row.id, row.event, tuple(parse_choices(r) for r in row.recipients), row.when)
        for row in parsed
    ]


@dataclass(frozen=True, slots=True)
class Agency:
    agency_id: str
    name: str
    kind: str
    province: str | None
    ward: str | None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()
    language: str = "vi"


@dataclass(frozen=True, slots=True)
class Subscriber:
    subscription_id: str
    url: str
    event_types: frozenset[str]
    province: str | None
    ward: str | None


@dataclass(frozen=True, slots=True)
class Target:
    """One message to send: a recipient on one channel at one address."""

    recipient_key: str
    recipient: str  # agency kind, PERSON or INTEGRATOR
    name: str
    channel: str  # email | sms | webhook
    address: str | None  # None for the person: their contact is fetched at send time
    language: str = "vi"


def _agencies_for(
    recipient: Recipient, context: Mapping[str, Any], directory: Iterable[Agency]
) -> list[Agency]:
    province, ward = context.get("province"), context.get("ward")
    if recipient.kind == PROVIDER:
        named = str(context.get("provider", "")).casefold()
        return [
            a for a in directory if a.name.casefold() == named and a.province in (None, province)
        ]
    of_kind = [a for a in directory if a.kind == recipient.kind]
    commune = [a for a in of_kind if ward and a.ward == ward]
    provincial = [a for a in of_kind if province and a.province == province and a.ward is None]
    return {
        Level.COMMUNE: commune,
        Level.PROVINCE: provincial,
        Level.NEAREST: commune or provincial,
        Level.NATIONAL: [a for a in of_kind if a.province is None],
    }[recipient.level or Level.NEAREST]


def _channels(agency: Agency) -> list[Target]:
    addresses = [("email", agency.emails), ("sms", agency.phones), ("webhook", agency.webhooks)]
    return [
        Target(
            f"agency:{agency.agency_id}:{channel}:{address}",
            agency.kind,
            agency.name,
            channel,
            address,
            agency.language,
        )
        for channel, values in addresses
        for address in values
    ]


def targets(
    routes: Iterable[Route],
    event_type: str,
    context: Mapping[str, Any],
    directory: Iterable[Agency],
    subscribers: Iterable[Subscriber] = (),
) -> list[Target]:
    """Everyone who must hear of the event, once each per channel and address."""
    directory = list(directory)
    found: dict[str, Target] = {}
    for route in routes:
        if not route.applies(event_type, context):
            continue
        for choices in route.recipients:
            if choices[0].kind == PERSON:
                if context.get("consent_services") is True:
                    key = f"person:{context.get('case_id')}:sms"
                    found[key] = Target(key, PERSON, "the person", "sms", None)
                continue
            for recipient in choices:
                agencies = _agencies_for(recipient, context, directory)
                found.update((t.recipient_key, t) for a in agencies for t in _channels(a))
                if agencies:
                    break
    # Integrators hear of a case only if its person consented to information sharing.
    sharing = context.get("consent_information_sharing") is True
    for subscriber in subscribers if sharing else ():
        if _subscribed(subscriber, event_type, context):
            key = f"subscription:{subscriber.subscription_id}"
            found[key] = Target(key, INTEGRATOR, subscriber.subscription_id, "webhook",
                                subscriber.url, "en")  # fmt: skip
    return list(found.values())


def _subscribed(subscriber: Subscriber, event_type: str, context: Mapping[str, Any]) -> bool:
    if event_type in REVIEW_ONLY:
        return False
    wanted = "*" in subscriber.event_types or event_type in subscriber.event_types
    in_area = (subscriber.province in (None, context.get("province"))) and (
        subscriber.ward in (None, context.get("ward"))
    )
    return wanted and in_area


def backoff_s(attempt: int, base_s: float, cap_s: float, jitter: float) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random (``jitter`` in [0, 1])."""
    ceiling = min(cap_s, base_s * 2.0 ** min(max(attempt - 1, 0), 64))
    return ceiling / 2 + ceiling / 2 * jitter


WEBHOOK_RETRY_SCHEDULE_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
"""Standard Webhooks' schedule (Svix's): after the first attempt, tries again after 5 s, 5 min,
30 min, 2 h, 5 h, 10 h and 10 h: eight attempts over about 27.5 hours."""


def scheduled_attempts(schedule_s: Sequence[float]) -> int:
    """How many attempts a schedule gives: the first, then one after each wait."""
    return len(schedule_s) + 1


def scheduled_wait_s(
    attempt: int, schedule_s: Sequence[float], spread: float, jitter: float
) -> float | None:
    """The wait after failed attempt ``attempt`` (from 1): its place in the schedule moved by
    up to ``spread`` of it either way (``jitter`` in [0, 1]: 0.5 keeps it); None after the
    last attempt."""
    if not 1 <= attempt <= len(schedule_s):
        return None
    return schedule_s[attempt - 1] * (1.0 + spread * (2.0 * jitter - 1.0))


@dataclass(frozen=True, slots=True)
class Retries:
    """How many attempts a delivery gets and how long it waits between them: mail and SMS
    back off exponentially up to ``max_attempts``; webhooks follow ``schedule_s``."""

    max_attempts: int
    base_s: float
    cap_s: float
    schedule_s: tuple[float, ...] = WEBHOOK_RETRY_SCHEDULE_S
    spread: float = 0.1

    def attempts(self, channel: str) -> int:
        if channel == "webhook":
            return scheduled_attempts(self.schedule_s)
        return self.max_attempts

    def wait_s(self, channel: str, attempt: int, jitter: float) -> float | None:
        """The wait after failed attempt ``attempt``; None if it was the last."""
        if channel == "webhook":
            return scheduled_wait_s(attempt, self.schedule_s, self.spread, jitter)
        if attempt >= self.max_attempts:
            return None
        return backoff_s(attempt, self.base_s, self.cap_s, jitter)


def schedule_span_s(schedule_s: Sequence[float], spread: float) -> tuple[float, float]:
    """The shortest and longest time from the first attempt to the last."""
    total = sum(schedule_s)
    return total * (1.0 - spread), total * (1.0 + spread)


def failing_too_long(failing_since: datetime | None, now: datetime, limit_s: float) -> bool:
    """A subscription is disabled once its deliveries have failed, with no success between,
    for ``limit_s``."""
    return failing_since is not None and (now - failing_since).total_seconds() >= limit_s


def replay_range_error(
    since: datetime, until: datetime, now: datetime, max_range_s: float
) -> str | None:
    """Why a replay's time range is refused, or None."""
    if since >= until:
        return "since must come before until"
    if until > now + timedelta(minutes=5):  # a little clock skew is tolerated
        return "until is in the future"
    if (until - since).total_seconds() > max_range_s:
        return f"the range is longer than {max_range_s / 86400:g} days"
    return None


class Breakers:
    """A circuit breaker per endpoint: after ``failures`` in a row the endpoint is left alone
    for ``cooldown_s``, then one trial is let through; a success closes it again."""

    def __init__(self, failures: int, cooldown_s: float) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._failed: dict[str, int] = {}
        self._opened: dict[str, float] = {}

    def allows(self, endpoint: str, now: float) -> bool:
        opened = self._opened.get(endpoint)
        if opened is None:
            return True
        if now - opened < self.cooldown_s:
            return False
        self._opened[endpoint] = now  # half open: this trial only, until it ends
        return True

    def retry_in(self, endpoint: str, now: float) -> float:
        """How long until the endpoint takes a trial again (0 if it would now)."""
        opened = self._opened.get(endpoint)
        return 0.0 if opened is None else max(0.0, opened + self.cooldown_s - now)

    def is_open(self, endpoint: str) -> bool:
        return endpoint in self._opened

    def open_endpoints(self) -> set[str]:
        """The endpoints left alone now or on trial (half open)."""
        return set(self._opened)

    def succeeded(self, endpoint: str) -> None:
        self._failed.pop(endpoint, None)
        self._opened.pop(endpoint, None)

    def failed(self, endpoint: str, now: float) -> None:
        self._failed[endpoint] = self._failed.get(endpoint, 0) + 1
        if self._failed[endpoint] >= self.failures:
            self._opened[endpoint] = now


def endpoint_of(channel: str, address: str | None, gateway: str | None, smtp: str) -> str:
    """What fails together: a webhook's origin, the SMTP relay, the SMS gateway."""
    if channel == "webhook" and address:
        url = urlsplit(address)  # the origin, without any credentials the URL may carry
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.hostname}{port}"
    return smtp if channel == "email" else gateway or "sms-gateway"
