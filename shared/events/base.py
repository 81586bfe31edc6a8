"""Base class of every event payload."""

from typing import ClassVar

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
