"""Events notify publishes: what was delivered or finally failed. No addresses, no bodies."""

from pydantic import Field

from shared.events.base import EventPayload
from shared.events.registry import EventRegistry
from shared.names import Stream


def register(registry: EventRegistry) -> None:
    registry.register(NotificationSent)
    registry.register(NotificationFailed)


class _Outcome(EventPayload):
    notification_id: str
    case_id: str | None = None
    about: str = Field(description="The type of the event the notification was for")
    channel: str = Field(description="email, sms or webhook")
    recipient: str = Field(description="The recipient's kind: an agency kind, integrator, person")
    province: str | None = None
    attempts: int


class NotificationSent(_Outcome):
    """A notification reached its recipient's channel."""

    event_type = "notification.sent"
    stream = Stream.NOTIFICATIONS

    latency_ms: int = Field(description="From the event reaching notify to its delivery")


class NotificationFailed(_Outcome):
    """A notification could not be delivered after every retry; an operator may replay it."""

    event_type = "notification.failed"
    stream = Stream.NOTIFICATIONS

    reason: str = Field(description="A coded reason: timeout, http_5xx, circuit_open, …")
