"""What support knows of a case, and how the law's refusals are told. Pure data."""

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from services.support.policies import Kind

PERSON = "person"
ADULT_AGE = 18

# Nationality and residence, as intake codes them (no nationality itself reaches support):
# a Vietnamese citizen, a stateless person residing in Viet Nam, or a foreigner (a stateless
# person not residing here counts as one). None: not recorded.
LegalStatus = Literal["vietnamese", "stateless_resident", "foreign"]


@dataclass(frozen=True, slots=True)
class Granted:
    """What a beneficiary already holds of one kind: pending and approved grants."""

    quantity: int
    first_on: date


@dataclass(frozen=True, slots=True)
class Facts:
    """What support knows of a case: coded facts from the case events and its own records."""

    status: str  # received | being_identified | identified | not_identified | merged
    received_on: date
    province: str
    identified_on: date | None = None
    legacy_province: str | None = None  # the pre-2025 province, from the commune code
    age: int | None = None
    accompanying_minors: int = 0
    poor_household: bool | None = None
    consent_services: bool | None = True
    refused_kinds: frozenset[str] = frozenset()  # "all", or kinds the person declined
    closed: bool = False
    retrafficking_risk: bool = False
    granted: Mapping[tuple[str, Kind], Granted] = field(default_factory=dict)
    legal_status: LegalStatus | None = None
    abroad: bool = False  # reported while still abroad (being identified abroad)

    @property
    def child(self) -> bool:
        return self.age is not None and self.age < ADULT_AGE


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the law refuses: ``rule`` is a stable code, ``field`` the request field concerned."""

    rule: str
    field: str
    message: str


def beneficiaries(facts: Facts) -> list[str]:
    return [PERSON, *(f"minor-{n}" for n in range(1, facts.accompanying_minors + 1))]


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day if shorter); ``date.max`` at most."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    if year > date.max.year:
        return date.max
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
