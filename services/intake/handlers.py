"""Intake's event handlers: decode → domain → store."""

from typing import Any

from services.intake import store
from services.intake.domain import ProbeAnswer
from shared.consumer import Subscription
from shared.events.platform import ProbeAnswered
from shared.events.registry import Event
from shared.names import Stream
from shared.outbox import UnitOfWork


async def on_probe_answered(uow: UnitOfWork, event: Event[Any]) -> None:
    answer: ProbeAnswered = event.payload
    await store.add_probe_answer(
        uow.session,
        answer.probe_id,
        ProbeAnswer(answer.service, answer.received_at, answer.trace_id),
    )


def subscriptions() -> list[Subscription]:
    return [Subscription(Stream.PLATFORM, {ProbeAnswered.event_type: on_probe_answered})]
