"""Outbox: events are written in the same transaction as the change that caused them, and a
relay publishes them afterwards in pipelined batches. Nothing is published for a rolled-back
change; nothing committed stays unpublished (a relay that dies between XADD and marking a row
sent publishes it again, and consumers drop the duplicate through their inbox). A row is marked
published only once Redis has the entry on disk (``shared.durability``): an entry Redis
acknowledged but lost in a crash would otherwise be gone with its row marked sent.
"""

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from opentelemetry import propagate, trace
from redis.asyncio import Redis
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from shared import tracing
from shared.audit import AuditRecord
from shared.db import Database, outbox
from shared.durability import Durability, NotDurable
from shared.events.base import EventPayload
from shared.events.envelope import CloudEvent, to_fields
from shared.events.registry import EventRegistry
from shared.names import Stream, case_partition
from shared.publishing import ClusterPublisher, Publisher
from shared.signing import EventSigner
from shared.supervision import stop_if_cancelled

log = logging.getLogger(__name__)

TRACE_EXTENSIONS = ("traceparent", "tracestate")
T = TypeVar("T")


def trace_extensions() -> dict[str, str]:
    """The current trace context as CloudEvents distributed-tracing extension attributes."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {name: carrier[name] for name in TRACE_EXTENSIONS if carrier.get(name)}


class UnitOfWork:
    """One database transaction and the events it will publish once it commits."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        source: str,
        registry: EventRegistry,
        signer: EventSigner | None = None,
        case_partitions: int = 1,
    ) -> None:
        self.session = session
        self.source = source
        self.registry = registry
        self.signer = signer
        self.partitions = case_partitions
        """How many ways the case stream is split (``shared.names.case_partition``)."""
        self.emitted = 0
        self.audits: list[AuditRecord] = []
        self._gathered: dict[str, tuple[Any, Callable[[Any], Awaitable[None]]]] = {}
        self.committed: list[Callable[[], None]] = []
        """Called once the transaction has committed (the runtime calls them)."""

    def gathered(self, key: str, new: Callable[[], T], finish: Callable[[T], Awaitable[None]]) -> T:
        """What the transaction's steps gather under ``key`` (made by ``new`` at the first
        step that asks), handed to ``finish`` once as the transaction ends, before its audit
        records: work that is cheaper done once for a whole batch than once per event."""
        if key not in self._gathered:
            self._gathered[key] = (new(), finish)
        value: T = self._gathered[key][0]
        return value

    async def finish(self) -> None:
        """Run what was gathered (the runtime calls this before the transaction commits)."""
        for value, finish in self._gathered.values():
            await finish(value)

    def audit(self, record: AuditRecord) -> None:
        """Record ``record`` in the audit chain as this transaction ends: the chain's head is
        locked last, after every other lock the transaction takes, so no two orders exist."""
        self.audits.append(record)

    def _signed(self, fields: dict[str, str]) -> dict[str, str]:
        return self.signer.sign(fields) if self.signer is not None else fields

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
                stream=case_partition(subject, self.partitions)
                if payload.stream == Stream.CASES
                else str(payload.stream),
                fields=self._signed(to_fields(event)),
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
                fields=self._signed(fields),
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
        durability: Durability | None = None,
        publisher: Publisher | ClusterPublisher | None = None,
        max_backoff: float = 30.0,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.database = database
        self.tracer = tracer or trace.get_tracer(__name__)
        self.publisher = publisher or Publisher(redis, durability)
        """Sends a batch and confirms it durable (``shared.publishing``)."""
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._on_published = on_published

    def wake(self) -> None:
        """Publish now rather than at the next poll (called after a commit that emitted)."""
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; a failing Redis or database only delays publication."""
        delay = self.poll_interval
        while True:
            try:
                while await self.publish_batch() == self.batch_size:
                    pass
                delay = self.poll_interval
            except NotDurable as reason:
                # Retrying at once would only publish the same rows again and again.
                delay = min(max(delay * 2, self.poll_interval), self.max_backoff)
                log.error("outbox not published, Redis could lose it: %s; again in %.1f s",
                          reason, delay)  # fmt: skip
            except Exception:
                stop_if_cancelled()
                log.exception("outbox relay failed; retrying")
            if delay > self.poll_interval:  # backing off: a commit's wake-up must not cut it
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
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
            started_ns = time.time_ns()
            sent = await self.publisher.send([(row.stream, row.fields) for row in rows])
            published = [
                row for row, result in zip(rows, sent, strict=True)
                if not isinstance(result, Exception)
            ]  # fmt: skip
            ended_ns = time.time_ns()
            for row in published:
                tracing.published(self.tracer, row.stream, row.fields, started_ns=started_ns,
                                  ended_ns=ended_ns)  # fmt: skip
            if len(published) < len(rows):
                log.warning("%d of %d events not published; retrying", len(rows) - len(published),
                            len(rows))  # fmt: skip
            await self._mark_published(session, [row.seq for row in published])
        if self._on_published is not None:
            for stream, count in Counter(row.stream for row in published).items():
                self._on_published(stream, count)
        if unconfirmed := next((r for r in sent if isinstance(r, NotDurable)), None):
            raise unconfirmed  # the relay backs off: sending again at once would not help
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

    async def oldest_waiting_s(self) -> float:
        """How long the oldest committed row not yet published has waited (0: none waits)."""
        async with self.database.reading() as session:
            oldest = await session.scalar(
                select(func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
            )
        return max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest else 0.0
