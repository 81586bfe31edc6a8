"""A small test service: one event type, one effects table, a handler that can be told to fail."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Column, Integer, String, Table, func, insert, select

from shared.consumer import Subscription
from shared.db import Sequence64, new_metadata
from shared.events import EventPayload, EventRegistry
from shared.events.registry import Event
from shared.names import Stream
from shared.outbox import UnitOfWork
from shared.settings import ServiceSettings

registry = EventRegistry()


@registry.register
class Ticked(EventPayload):
    event_type = "test.ticked"
    stream = Stream.CASES
    producers: ClassVar[frozenset[str]] = frozenset({"producer"})  # signs as /safereturn/producer

    n: int


@registry.register
class Echoed(EventPayload):
    event_type = "test.echoed"
    stream = Stream.PLATFORM

    n: int


metadata = new_metadata()
effects = Table(
    "effects",
    metadata,
    Column("seq", Sequence64, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("n", Integer, nullable=False),
)


class TestSettings(ServiceSettings):
    service_name: ClassVar[str] = "tests"


class HandlerCrashed(RuntimeError):
    pass


@dataclass
class Behaviour:
    """What the test handler does: fail some events a number of times, or always."""

    failures_left: dict[int, int] = field(default_factory=dict)
    poison: set[int] = field(default_factory=set)
    echo: bool = False
    attempts: dict[int, int] = field(default_factory=dict)

    async def handle(self, uow: UnitOfWork, event: Event[Any]) -> None:
        n = event.payload.n
        self.attempts[n] = self.attempts.get(n, 0) + 1
        await uow.session.execute(insert(effects).values(event_id=event.id, n=n))
        if self.echo:
            await uow.emit(Echoed(n=n), subject=event.subject, time=event.time)
        if n in self.poison:
            raise HandlerCrashed(f"event {n} is poison")
        if self.failures_left.get(n, 0) > 0:
            self.failures_left[n] -= 1
            raise HandlerCrashed(f"event {n} crashed before commit")

    def subscription(self) -> Subscription:
        return Subscription(Stream.CASES, {Ticked.event_type: self.handle})


def now() -> datetime:
    return datetime.now(UTC)


async def effect_counts(session_factory: Any) -> dict[int, int]:
    async with session_factory() as session:
        rows = await session.execute(select(effects.c.n, func.count()).group_by(effects.c.n))
        return {n: count for n, count in rows}


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 20.0, interval: float = 0.05
) -> bool:
    """Poll ``check`` until it holds; False if it never did within ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True
