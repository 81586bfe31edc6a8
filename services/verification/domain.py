"""Verification's rules. Pure: when a task is overdue or due for a reminder, and whether a
decision may be taken (the procedures, their steps and due dates: ``procedures``)."""

from datetime import date, timedelta
from enum import StrEnum

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


class Level(StrEnum):
    COMMUNE = "commune"
    PROVINCE = "province"


def first_level(ward: str | None) -> Level:
    return Level.COMMUNE if ward else Level.PROVINCE


def overdue(due: date, today: date) -> bool:
    return today > due


def reminder_due(due: date, today: date) -> bool:
    return due - timedelta(days=REMINDER_DAYS) <= today <= due


def worth_a_reminder(started: date | None, due: date) -> bool:
    """A step whose whole limit lies within the reminder window gets no reminder: its agencies
    were told when it started (Law 53's 3 days would otherwise be reminded of at once)."""
    return started is None or started < due - timedelta(days=REMINDER_DAYS)


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
