"""Consuming a stream for one service: batches in, exactly-once in effect.

Two FastStream subscribers share one group per stream: the main one reads new entries in
batches (XREADGROUP COUNT n), the other reclaims entries left pending too long by a crashed
or failing consumer (XAUTOCLAIM). A batch is applied in one transaction — inbox rows, the
handlers' effects and their outbox rows — and acknowledged together. If the batch fails,
each entry is retried alone so one poison entry cannot hold back the others; an entry that
keeps failing goes to the dead-letter stream after ``max_deliveries`` deliveries. The
group's upkeep on Redis (creating it, forgetting what is gone) is in ``shared.consumer_groups``.
"""

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from faststream import AckPolicy
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisBatchStreamMessage
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from redis.asyncio import Redis
from sqlalchemy import insert, select, tuple_

from shared import consumer_groups, figures
from shared.db import inbox
from shared.deadletter import Failure, dead_letter
from shared.events.envelope import from_fields
from shared.events.registry import Event, EventRegistry
from shared.names import consumer_group
from shared.outbox import UnitOfWork
from shared.settings import ServiceSettings
from shared.signing import EventVerifier, ForgedEvent
from shared.streams import Entry
from shared.telemetry import Metrics

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, Event[Any]], Awaitable[None]]
UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A stream a service consumes, and its handler for each event type it cares about.

    Entries of other types on the stream are acknowledged without effect.
    """

    stream: str
    handlers: Mapping[str, Handler]
    decode: bool = True
    """Decode payloads through the registry; off for inbound streams of foreign payloads,
    whose handlers validate the envelope's data themselves (``Event.payload`` is then None)."""
    transient: bool = False
    """Delete entries once acknowledged: for inbound streams that carry personal data,
    which must not outlive its sealing in the service's own store. Their dead letters keep
    the attributes and the reason but not ``data`` or ``authorization``."""
    inbox: bool = True
    """Record (source, id) so a redelivery has no second effect. Off where the handler is
    idempotent on a business key and a sender may rightly resend the same event id."""
    fallback: Handler | None = None
    """Handles entries of any other type (for inbound streams nothing may be ignored)."""


def describe(error: BaseException) -> str:
    """An error's type and message, for logs and dead letters (handlers put no PII in them)."""
    return f"{type(error).__name__}: {error}"


class StreamConsumer:
    """One service's consumer group on one stream."""

    def __init__(
        self,
        subscription: Subscription,
        *,
        service: str,
        consumer: str,
        redis: "Redis",
        registry: EventRegistry,
        unit_of_work: UnitOfWorkFactory,
        settings: ServiceSettings,
        metrics: Metrics,
        tracer: trace.Tracer,
        verifier: EventVerifier | None = None,
    ) -> None:
        self.subscription = subscription
        self.verifier = verifier
        self.stream = subscription.stream
        self.group = consumer_group(service)
        self.consumer = consumer
        self.redis = redis
        self.registry = registry
        self.unit_of_work = unit_of_work
        self.settings = settings
        self.metrics = metrics
        self.tracer = tracer
        self._in_flight: set[str] = set()
        self._subscribers: list[Any] = []

    async def provision(self) -> bool:
        """Create the group at id 0, so entries published before we first started are read;
        whether it had to be created."""
        return await consumer_groups.provision(self.redis, self.stream, self.group)

    @property
    def alive(self) -> bool:
        """Whether the reader and the reclaimer are both reading."""
        return all(self._reading(subscriber) for subscriber in self._subscribers)

    @staticmethod
    def _reading(subscriber: Any) -> bool:
        return bool(subscriber.running) and any(not task.done() for task in subscriber.tasks)

    async def revive(self) -> None:
        """Start again the subscribers that stopped (FastStream stops one for good on NOGROUP,
        i.e. when Redis lost the group); the group must exist again first."""
        for subscriber in self._subscribers:
            if not self._reading(subscriber):
                log.warning("restarting a stopped subscriber of %s/%s", self.stream, self.group)
                await subscriber.stop()
                await subscriber.start()

    def attach(self, broker: RedisBroker) -> None:
        """Register the batch reader and the reclaimer on ``broker``."""
        reader = StreamSub(
            self.stream,
            group=self.group,
            consumer=self.consumer,
            batch=True,
            max_records=self.settings.batch_size,
            polling_interval=self.settings.poll_interval_ms,
        )
        reclaimer = StreamSub(
            self.stream,
            group=self.group,
            consumer=self.consumer,
            batch=True,
            min_idle_time=self.settings.reclaim_idle_ms,
            polling_interval=self.settings.poll_interval_ms,
        )
        for stream_sub in (reader, reclaimer):
            subscriber = broker.subscriber(stream=stream_sub, ack_policy=AckPolicy.MANUAL)
            subscriber(self.on_message)
            self._subscribers.append(subscriber)

    async def on_message(self, body: Any, message: RedisBatchStreamMessage) -> None:
        """FastStream entry point: never raises, so FastStream never acks or drops by itself.

        The reader and the reclaimer share this process's consumer name; an entry the
        reclaimer takes while the reader is still applying it is left to the reader.
        """
        raw = message.raw_message
        entries = [
            Entry(entry_id.decode(), fields)
            for entry_id, fields in zip(raw["message_ids"], raw["data"], strict=True)
            if entry_id is not None and entry_id.decode() not in self._in_flight
        ]
        self._in_flight.update(entry.id for entry in entries)
        try:
            await self.process(entries)
        finally:
            self._in_flight.difference_update(entry.id for entry in entries)

    async def process(self, entries: Sequence[Entry]) -> None:
        """One batch read: a span of its own (its Redis and SQL calls under it), linked to the
        trace of each event in it; each event's handler runs in that event's trace."""
        with self.tracer.start_as_current_span(
            f"{self.stream} receive",
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "redis",
                "messaging.operation.type": "receive",
                "messaging.destination.name": self.stream,
                "messaging.consumer.group.name": self.group,
                "messaging.batch.message_count": len(entries),
            },
        ) as batch:
            await self._process(entries, batch)

    async def _process(self, entries: Sequence[Entry], batch: trace.Span) -> None:
        started = time.perf_counter()
        done: list[str] = []
        events: list[tuple[Entry, Event[Any]]] = []
        for entry in entries:
            try:
                event = self._decode(entry)
            except ForgedEvent as error:  # will never verify: dead letters at once
                await self._failed(entry, error, final=True)
                continue
            except Exception as error:
                await self._failed(entry, error)
                continue
            if event is None:
                done.append(entry.id)
                self.metrics.consumed(self.stream, self.group, "ignored")
            else:
                events.append((entry, event))
                batch.add_link(trace.get_current_span(_producer(event)).get_span_context())
        done += await self._apply_batch(events)
        if done:
            await self.redis.xack(self.stream, self.group, *done)
            if self.subscription.transient:
                await self.redis.xdel(self.stream, *done)
        self.metrics.batch_seconds(self.stream, self.group, time.perf_counter() - started)

    def _decode(self, entry: Entry) -> Event[Any] | None:
        """The event, or None when there is nothing for this service to do."""
        if not entry.fields:  # deleted from the stream while pending
            return None
        envelope = from_fields(entry.fields)
        known = envelope.get_type() in self.subscription.handlers
        if not known and self.subscription.fallback is None:
            return None
        if not self.subscription.decode or not known:
            return Event(envelope, None, entry.id)
        if self.verifier is not None:  # foreign payloads (decode off) are not ours to sign
            self.verifier.check(entry.fields, envelope.get_type(), envelope.get_source())
        return replace(self.registry.decode(envelope), entry_id=entry.id)

    async def _apply_batch(self, events: list[tuple[Entry, Event[Any]]]) -> list[str]:
        """Apply in one transaction; on failure, each entry alone. The ids to acknowledge."""
        if not events:
            return []
        try:
            await self._apply(events)
        except Exception as error:
            if len(events) == 1:
                entry, event = events[0]
                return [entry.id] if await self._settled_elsewhere(entry, event, error) else []
            log.warning("batch of %d on %s failed; retrying one by one", len(events), self.stream)
            return [entry.id for entry, event in events if await self._apply_alone(entry, event)]
        return [entry.id for entry, _ in events]

    async def _apply_alone(self, entry: Entry, event: Event[Any]) -> bool:
        try:
            await self._apply([(entry, event)])
        except Exception as error:
            return await self._settled_elsewhere(entry, event, error)
        return True

    async def _settled_elsewhere(self, entry: Entry, event: Event[Any], error: Exception) -> bool:
        """Whether another replica applied the event while this one failed (two replicas raced
        on a reclaimed entry and this one lost on the inbox's key): then there is nothing left
        to do. Otherwise the failure counts towards dead-lettering."""
        if self.subscription.inbox:
            try:
                async with self.unit_of_work() as uow:
                    applied = bool(await self._already_processed(uow, [event]))
            except Exception:
                applied = False  # the database itself failed: an ordinary failure
            if applied:
                self.metrics.consumed(self.stream, self.group, "duplicate")
                return True
        await self._failed(entry, error)
        return False

    async def _apply(self, events: list[tuple[Entry, Event[Any]]]) -> None:
        async with self.unit_of_work() as uow:
            seen = await self._already_processed(uow, [event for _, event in events])
            received: list[dict[str, Any]] = []
            processed = 0
            for _, event in events:
                key = (event.source, event.id)
                if key in seen:
                    self.metrics.consumed(self.stream, self.group, "duplicate")
                    continue
                if self.subscription.inbox:
                    seen.add(key)
                    received.append(self._inbox_row(event))
                handler = self.subscription.handlers.get(event.type, self.subscription.fallback)
                assert handler is not None  # _decode let only handled types through
                with self._span(event):
                    await handler(uow, event)
                processed += 1
            if received:
                await uow.session.execute(insert(inbox), received)
        for _ in range(processed):
            self.metrics.consumed(self.stream, self.group, "processed")

    async def _already_processed(
        self, uow: UnitOfWork, events: list[Event[Any]]
    ) -> set[tuple[str, str]]:
        keys = [(event.source, event.id) for event in events]
        rows = await uow.session.execute(
            select(inbox.c.source, inbox.c.event_id).where(
                tuple_(inbox.c.source, inbox.c.event_id).in_(keys)
            )
        )
        return {(row.source, row.event_id) for row in rows}

    def _inbox_row(self, event: Event[Any]) -> dict[str, Any]:
        return {
            "source": event.source,
            "event_id": event.id,
            "event_type": event.type,
            "stream": self.stream,
            "processed_at": datetime.now(UTC),
        }

    def _span(self, event: Event[Any]) -> AbstractContextManager[trace.Span]:
        """A consumer span continuing the producer's trace from the event's ``traceparent``."""
        return self.tracer.start_as_current_span(
            f"{event.type} process",
            context=_producer(event),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "redis",
                "messaging.destination.name": self.stream,
                "messaging.consumer.group.name": self.group,
                "messaging.message.id": event.id,
                "cloudevents.event_type": event.type,
            },
        )

    async def _failed(self, entry: Entry, error: Exception, *, final: bool = False) -> None:
        deliveries = await self._deliveries(entry.id)
        log.warning(
            "entry %s on %s failed (delivery %d of %d): %s",
            entry.id,
            self.stream,
            deliveries,
            self.settings.max_deliveries,
            describe(error),
        )
        if deliveries < self.settings.max_deliveries and not final:
            self.metrics.consumed(self.stream, self.group, "failed")
            return  # stays pending; the reclaimer delivers it again once it has been idle
        failure = Failure(
            stream=self.stream,
            entry_id=entry.id,
            group=self.group,
            consumer=self.consumer,
            deliveries=deliveries,
            error_type=type(error).__name__,
            reason=describe(error),
        )
        if self.subscription.transient:
            kept = {k: v for k, v in (entry.fields or {}).items()
                    if k not in {b"data", b"authorization"}}  # fmt: skip
            await dead_letter(self.redis, failure, kept)
            await self.redis.xdel(self.stream, entry.id)
        else:
            await dead_letter(self.redis, failure, entry.fields)
        self.metrics.consumed(self.stream, self.group, "dead_lettered")

    async def _deliveries(self, entry_id: str) -> int:
        pending = await self.redis.xpending_range(
            self.stream, self.group, min=entry_id, max=entry_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 1

    async def maintain(self) -> None:
        """Bring back a group Redis lost (at id 0) and its stopped subscribers; record pending
        and lag (``shared.figures``); forget consumers that left with nothing pending."""
        if await self.provision():
            log.warning("group %s on %s was missing (Redis lost its data?): created at 0",
                        self.group, self.stream)  # fmt: skip
        if not self.alive:
            await self.revive()
        await figures.observe(self.redis, self.metrics, self.stream, self.group,
                                     holder=self.consumer,
                                     round_s=self.settings.maintenance_interval_s)  # fmt: skip
        forgotten = await consumer_groups.forget_deleted_entries(
            self.redis, self.stream, self.group, idle_ms=self.settings.reclaim_idle_ms
        )
        for entry_id in forgotten:
            log.warning("acknowledged %s: deleted from %s while pending", entry_id, self.stream)
        removed = await consumer_groups.forget_stale_consumers(
            self.redis, self.stream, self.group, keep=self.consumer,
            idle_ms=self.settings.stale_consumer_idle_ms,
        )  # fmt: skip
        for name in removed:
            log.info("removed stale consumer %s from %s/%s", name, self.stream, self.group)


def _producer(event: Event[Any]) -> Context:
    """The context of the span that published ``event`` (its ``traceparent``)."""
    carrier = {
        name: str(value)
        for name in ("traceparent", "tracestate")
        if (value := event.envelope.get_extension(name))
    }
    return propagate.extract(carrier)
