"""Event contracts: the CloudEvents envelope, payload models per producer, and the registry."""

from shared.events import intake, notify, platform, support, verification
from shared.events.base import EventPayload
from shared.events.registry import Event, EventRegistry, PayloadError, UnknownEventError


def default_registry() -> EventRegistry:
    """The registry of every event the platform knows, one producer module at a time."""
    registry = EventRegistry()
    platform.register(registry)
    intake.register(registry)
    verification.register(registry)
    support.register(registry)
    notify.register(registry)
    return registry


REGISTRY = default_registry()

__all__ = [
    "REGISTRY",
    "Event",
    "EventPayload",
    "EventRegistry",
    "PayloadError",
    "UnknownEventError",
    "default_registry",
]
