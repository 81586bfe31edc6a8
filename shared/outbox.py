"""Outbox: events are written in the same transaction as the change that caused them, and a
relay publishes them afterwards in pipelined batches. Nothing is published for a rolled-back
change; nothing committed stays unpublished (a relay that dies between XADD and marking a row
sent publishes it again, and consumers drop the duplicate through their inbox).
"""

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from opentelemetry import propagate
from redis.asyncio import Redis
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from shared.db import Database, outbox
from shared.events.base import EventPayload
from shared.events.envelope import CloudEvent, to_fields
from shared.events.registry import EventRegistry

log = logging.getLogger(__name__)

TRACE_EXTENSIONS = ("traceparent", "tracestate")


def trace_extensions() -> dict[str, str]:
    """The current trace context as CloudEvents distributed-tracing extension attributes."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {name: carrier[name] for name in TRACE_EXTENSIONS if carrier.get(name)}


class UnitOfWork:
    """One database transaction and the events it will publish once it commits."""

    def __init__(self, session: AsyncSession, *, source: str, registry: EventRegistry) -> None:
        self.session = session
        self.source = source
        self.registry = registry
        self.emitted = 0

    async def emit(
        self, payload: EventPayload, *, subject: str | None, time: datetime
    ) -> CloudEvent:
        """Queue ``payload`` for publication on its stream when this transaction commits."""
        event = self.registry.envelope(
            payload,
            event_id=str(uuid7()),
            source=self.source,
            subject=subject,
            time=time,
            extensions=trace_extensions(),
        )
        await self.session.execute(
            insert(outbox).values(
                event_id=event.get_id(),
                event_type=event.get_type(),
                stream=str(payload.stream),
                fields=to_fields(event),
                created_at=datetime.now(UTC),
            )
        )
        self.emitted += 1
        return event

    async def forward(self, stream: str, fields: dict[str, str]) -> None:
        """Queue a ready-made entry (not a registered event) for ``stream`` on commit."""
        await self.session.execute(
            insert(outbox).values(
                event_id=str(uuid7()),
                event_type=fields.get("type", "entry"),
                stream=stream,
                fields=fields,
                created_at=datetime.now(UTC),
            )
        )
        self.emitted += 1


class OutboxRelay:
    """Publishes committed outbox rows to their streams, oldest first, a batch per pipeline."""

    def __init__(
        self,
        database: Database,
        redis: "Redis",
        *,
        batch_size: int,
        poll_interval: float,
        on_published: Callable[[str, int], None] | None = None,
    ) -> None:
        self.database = database
        self.redis = redis
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._on_published = on_published

    def wake(self) -> None:
        """Publish now rather than at the next poll (called after a commit that emitted)."""
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; a failing Redis or database only delays publication."""
        while True:
            try:
                while await self.publish_batch() == self.batch_size:
                    pass
            except Exception:
                log.exception("outbox relay failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            self._wake.clear()

    async def publish_batch(self) -> int:
        """Publish up to one batch of unpublished rows; returns how many were published."""
        async with self.database.transaction() as session:
            rows = (
                await session.execute(
                    select(outbox.c.seq, outbox.c.stream, outbox.c.fields)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            async with self.redis.pipeline(transaction=False) as pipe:
                for row in rows:
                    pipe.xadd(row.stream, row.fields)
                results = await pipe.execute(raise_on_error=False)
            published = [
                row for row, result in zip(rows, results, strict=True)
                if not isinstance(result, Exception)
            ]  # fmt: skip
            if len(published) < len(rows):
                log.warning("%d of %d events not published; retrying", len(rows) - len(published),
                            len(rows))  # fmt: skip
            await self._mark_published(session, [row.seq for row in published])
        if self._on_published is not None:
            for stream, count in Counter(row.stream for row in published).items():
                self._on_published(stream, count)
        return len(published)

    async def _mark_published(self, session: AsyncSession, seqs: list[int]) -> None:
        await session.execute(
            update(outbox).where(outbox.c.seq.in_(seqs)).values(published_at=datetime.now(UTC))
        )

    async def backlog(self) -> int:
        """Committed rows not yet published."""
        async with self.database.reading() as session:
            count = await session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
        return int(count or 0)
