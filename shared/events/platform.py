"""Platform events: end-to-end probes that prove events cross every service.

An operator (or the demo) asks intake for a probe; every other service records that it saw
the probe, and those that publish answer it, so intake can show the whole round trip.
"""

from datetime import datetime

from shared.events.base import EventPayload
from shared.events.registry import EventRegistry
from shared.names import Stream


def register(registry: EventRegistry) -> None:
    for model in (ProbeRequested, ProbeAnswered):
        registry.register(model)


class ProbeRequested(EventPayload):
    """Someone asked the platform to prove that an event reaches every service."""

    event_type = "platform.probe.requested"
    stream = Stream.PLATFORM

    probe_id: str
    requested_at: datetime


class ProbeAnswered(EventPayload):
    """A service received a probe and answers it on the bus."""

    event_type = "platform.probe.answered"
    stream = Stream.PLATFORM

    probe_id: str
    service: str
    received_at: datetime
    trace_id: str | None = None
