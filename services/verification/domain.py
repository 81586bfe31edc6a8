"""Verification's rules. Pure: deadlines from the legal table, who must verify, when a task
is overdue or due for a reminder, and whether a decision may be taken."""

import tomllib
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

from shared.legal_time import DayKind, add_days

DEADLINES_FILE = Path(__file__).with_name("deadlines.toml")
VERIFICATION_STEP = "police_verification"
REMINDER_DAYS = 3


class Outcome(StrEnum):
    VICTIM = "victim"
    NOT_VICTIM = "not_victim"


class Evidence(StrEnum):
    POLICE_CERTIFICATE = "police_certificate"
    RESCUING_AGENCY_CERTIFICATE = "rescuing_agency_certificate"
    PROSECUTION_OR_COURT_DOCUMENT = "prosecution_or_court_document"
    CONSULAR_DOCUMENT = "consular_document"
    FOREIGN_AUTHORITY_DOCUMENT = "foreign_authority_document"


@dataclass(frozen=True, slots=True)
class Limit:
    step: str
    days: int
    day_kind: DayKind
    effective_from: date
    effective_to: date | None
    known: bool
    legal_basis: str
    summary: str

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )


class DeadlineError(LookupError):
    """No row of the legal table covers the step on that date."""


def load_limits(path: Path = DEADLINES_FILE, unknown_days: int | None = None) -> list[Limit]:
    rows = tomllib.loads(path.read_text())["limit"]
    limits = [
        Limit(
            step=row["step"],
            days=int(row["days"]),
            day_kind=DayKind(row["day_kind"]),
            effective_from=row["effective_from"],
            effective_to=row.get("effective_to"),
            known=bool(row["known"]),
            legal_basis=row["legal_basis"],
            summary=row["summary"],
        )
        for row in rows
    ]
    if unknown_days is not None:
        limits = [limit if limit.known else replace(limit, days=unknown_days) for limit in limits]
    return limits


def limit_for(limits: list[Limit], step: str, received_on: date) -> Limit:
    """The row in force on the reception date: the regime does not change mid-case."""
    for limit in limits:
        if limit.step == step and limit.in_force(received_on):
            return limit
    raise DeadlineError(f"no time limit for {step} on {received_on}")


def due_on(limits: list[Limit], received_on: date, step: str = VERIFICATION_STEP) -> date:
    limit = limit_for(limits, step, received_on)
    return add_days(received_on, limit.days, limit.day_kind)


class Level(StrEnum):
    COMMUNE = "commune"
    PROVINCE = "province"


BORDER_FORMS = frozenset({"bilateral_handover"})
BORDER_CHANNELS = frozenset({"border_guard", "military", "foreign_authority"})


def competent_agencies(channel: str, reception_form: str) -> list[str]:
    """Who verifies: commune police by default; border guard with provincial police for
    border crossings and bilateral handovers."""
    if reception_form in BORDER_FORMS or channel in BORDER_CHANNELS:
        return ["border_guard", "provincial_police"]
    return ["commune_police"]


def first_level(ward: str | None) -> Level:
    return Level.COMMUNE if ward else Level.PROVINCE


def overdue(due: date, today: date) -> bool:
    return today > due


def reminder_due(due: date, today: date) -> bool:
    return due - timedelta(days=REMINDER_DAYS) <= today <= due


class DecisionRefused(ValueError):
    """A decision that may not be taken; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_decision(
    decided_at: date,
    received_on: date,
    today: date,
    *,
    already_decided: bool,
    amend_reason: str | None,
) -> None:
    if decided_at < received_on:
        raise DecisionRefused("decided_at", "is before the case was received")
    if decided_at > today:
        raise DecisionRefused("decided_at", "is in the future")
    if already_decided and not amend_reason:
        raise DecisionRefused("amend_reason", "the case is decided: give a reason to amend")
    if not already_decided and amend_reason:
        raise DecisionRefused("amend_reason", "there is no decision to amend")
