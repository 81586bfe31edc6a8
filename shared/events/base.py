"""Base class of every event payload, and business time."""

from datetime import date, datetime, time
from typing import ClassVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from shared.names import Stream


class EventPayload(BaseModel):
    """A frozen, typed event payload; its class variables say where and how it travels.

    Payloads carry no personal data: a pseudonymous case id and coded attributes only.
    Unknown fields are ignored, so a producer may add an optional field without a new version.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    version: ClassVar[int] = 1
    stream: ClassVar[Stream]


VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
"""Business dates are Viet Nam's dates."""


def business_time(day: date) -> datetime:
    """The CloudEvents ``time`` of something that happened on ``day`` (its start, in Viet Nam)."""
    return datetime.combine(day, time.min, VIETNAM)


def business_today() -> date:
    return datetime.now(VIETNAM).date()
