"""Stats' event handlers: every event of every stream is archived, and the new ones of a batch
projected together as it commits (services.stats.tallies), in one transaction with the inbox
(a redelivery changes nothing)."""

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from services.stats import store, tallies
from shared import cases
from shared.consumer import Handler, Subscription
from shared.diagnostics import probe_receiver
from shared.events import REGISTRY
from shared.events.platform import ProbeRequested
from shared.events.registry import Event
from shared.names import Service, Stream
from shared.outbox import UnitOfWork

Landed = Callable[[Iterable[str]], None]
"""Told the ids of the events a batch archived, once it has committed."""

ARCHIVED = (Stream.CASES, Stream.ACTIVITIES, Stream.NOTIFICATIONS)


def envelope(event: Event[Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": event.id, "source": event.source, "type": event.type,
        "subject": event.subject, "time": event.time.isoformat(),
        "data": event.payload.model_dump(mode="json"),
    }  # fmt: skip


def archiving(stream: str, landed: Landed) -> Handler:
    """Archive the event; project the new ones of the batch as it ends; tell ``landed`` their
    ids once they are committed (requests waiting to read their writes wake then)."""

    async def on_event(uow: UnitOfWork, event: Event[Any]) -> None:
        message = envelope(event)
        values = {"event_key": f"{event.source}#{event.id}", "event_id": event.id,
                  "stream": stream, "type": event.type, "subject": event.subject,
                  "time": event.time, "envelope": message,
                  "recorded_at": datetime.now(UTC)}  # fmt: skip
        if await store.archived(uow.session, values):
            project = functools.partial(tallies.project, uow.session)
            new = uow.gathered("stats.archived", list, project)
            if not new:
                uow.committed.append(lambda: landed(message["id"] for message in new))
            new.append(message)

    return on_event


def subscriptions(landed: Landed) -> list[Subscription]:
    on_probe = probe_receiver(Service.STATS, answer=False)
    every: dict[str, dict[str, Handler]] = {str(stream): {} for stream in ARCHIVED}
    for model in REGISTRY:
        if model.stream in ARCHIVED:
            every[str(model.stream)][model.event_type] = archiving(str(model.stream), landed)
    return [
        Subscription(Stream.PLATFORM, {ProbeRequested.event_type: on_probe}),
        cases.subscription(every[Stream.CASES]),
        Subscription(Stream.ACTIVITIES, every[Stream.ACTIVITIES]),
        Subscription(Stream.NOTIFICATIONS, every[Stream.NOTIFICATIONS]),
    ]
