"""A service process: what makes a service, and its plumbing (database, Redis, broker,
consumers, relay, telemetry) started, supervised and stopped. Its HTTP app is in
``shared.webapp``.
"""

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from fastapi import APIRouter
from faststream.redis.opentelemetry import RedisTelemetryMiddleware
from redis.asyncio import RedisCluster

from shared import figures, redis_connect, tracing
from shared.access import Matrix
from shared.audit import AuditRecord, append, append_pending, current_audit
from shared.consumer import StreamConsumer, Subscription
from shared.db import Database
from shared.durability import Durability
from shared.events import REGISTRY as EVENTS
from shared.events import EventRegistry
from shared.migrations import upgrade
from shared.names import Service, consumer_name, event_source, physical_streams
from shared.outbox import OutboxRelay, UnitOfWork
from shared.publishing import ClusterPublisher, Publisher
from shared.ratelimit import RateLimiter
from shared.retention import Retention
from shared.settings import ServiceSettings
from shared.signing import event_keys
from shared.supervision import Supervisor, stop_if_cancelled
from shared.telemetry import setup_telemetry
from shared.tokens import JwksFetcher, TokenVerifier, http_jwks
from shared.vault import Vault
from shared.wire import CloudEventsFormat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceSpec:
    """What makes a service: its settings, the streams it consumes, its routes, its schema."""

    settings: ServiceSettings
    subscriptions: Sequence[Subscription] = ()
    platform_subscriptions: Callable[["Platform"], Sequence[Subscription]] | None = None
    """Subscriptions whose handlers need the running plumbing (token checks, for one)."""
    routers: Sequence[APIRouter] = ()
    public_routers: Sequence[APIRouter] = ()
    migrations: Path | None = None
    registry: EventRegistry = field(default=EVENTS)
    signing_keys: Callable[["Platform"], JwksFetcher] | None = None
    """Where this service reads token signing keys; by default intake's JWKS over HTTP."""
    housekeeping: Callable[["Platform"], Awaitable[None]] | None = None
    """Runs once the database is migrated (before consumers start), then periodically."""
    workers: Sequence[Callable[["Platform"], Coroutine[Any, Any, None]]] = ()
    """Long-running tasks started with the consumers and cancelled when the service stops."""
    catalogue: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Adds this service's own part (channels it alone knows) to the AsyncAPI document it
    serves; the whole contract is ``docs/asyncapi.json`` (``safereturn.contract``)."""


STOP_TIMEOUT_S = 10.0


async def _bounded(step: Awaitable[None], what: str) -> None:
    try:
        await asyncio.wait_for(step, STOP_TIMEOUT_S)
    except TimeoutError:
        log.warning("%s did not stop within %s s", what, STOP_TIMEOUT_S)


class Platform:
    """The running plumbing of one service process."""

    def __init__(self, spec: ServiceSpec) -> None:
        self.spec = spec
        self.settings = settings = spec.settings
        self.name = settings.service_name
        # Before anything is opened: a service that cannot know where the keys are won't start.
        keys_url = settings.signing_keys_url if spec.signing_keys is None else ""
        self.instance = settings.consumer_name or consumer_name(self.name)
        self.telemetry = setup_telemetry(settings, self.instance)
        self.tracer = self.telemetry.tracer_provider.get_tracer("safereturn")
        self.database = Database(settings.database, limits=settings.database_limits)
        if tracing.exporting(settings):
            tracing.instrument_database(self.database.engine, self.telemetry.tracer_provider)
        self.signer, self.verifier_of_events = event_keys(settings, spec.registry)
        self.database.attach_vault(lambda: self.vault)  # read when a store first needs it
        self.redis = redis_connect.redis_client(settings)
        self.relay = OutboxRelay(
            self.database,
            self.redis,
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval_ms / 1000,
            on_published=self.telemetry.metrics.published,
            tracer=self.tracer,
            publisher=self._publisher(),
        )
        self.broker = redis_connect.broker(
            settings,
            message_format=CloudEventsFormat,
            middlewares=[
                RedisTelemetryMiddleware(
                    tracer_provider=self.telemetry.tracer_provider,
                    meter_provider=self.telemetry.meter_provider,
                )
            ],
            log_level=logging.DEBUG,  # one line per batch is noise at INFO
            logger=logging.getLogger("faststream.broker"),  # through the service's handler
        )
        self.consumers = [
            StreamConsumer(
                subscription,
                service=self.name,
                consumer=self.instance,
                redis=self.redis,
                registry=spec.registry,
                unit_of_work=self.unit_of_work,
                settings=settings,
                metrics=self.telemetry.metrics,
                tracer=self.tracer,
                verifier=self.verifier_of_events,
            )
            for logical in [
                *spec.subscriptions,
                *(spec.platform_subscriptions(self) if spec.platform_subscriptions else ()),
            ]
            for stream in physical_streams(logical.stream, settings.case_stream_partitions)
            for subscription in [replace(logical, stream=stream)]
        ]
        for consumer in self.consumers:
            consumer.attach(self.broker)
        self.matrix = Matrix.load(list(Service))
        keys = spec.signing_keys(self) if spec.signing_keys else http_jwks(keys_url)
        self.verifier = TokenVerifier(
            keys,
            self.redis,
            revocations_ttl_s=settings.revocation_refresh_s,
            on_refresh_failed=self.telemetry.metrics.jwks_refresh_failed,
        )
        self.limiter = RateLimiter(
            self.redis, self.name, limit=settings.rate_limit_per_minute, window_s=60
        )
        self.unauthenticated = RateLimiter(
            self.redis, f"{self.name}-unauthenticated", limit=settings.rate_limit_per_minute,
            window_s=60,
        )  # fmt: skip
        self.login_failures = RateLimiter(
            self.redis,
            "login-failures",
            limit=settings.login_failure_limit,
            window_s=settings.login_failure_window_s,
        )
        self.client_login_failures = RateLimiter(
            self.redis,
            "login-failures-by-client",
            limit=settings.login_failure_limit_per_client,
            window_s=settings.login_failure_window_s,
        )
        self.address_login_failures = RateLimiter(
            self.redis,
            "login-failures-by-address",
            limit=settings.login_failure_limit_per_address,
            window_s=settings.login_failure_window_s,
        )
        self.retention = Retention.of_platform(
            self.redis, self.instance, settings, on_trimmed=self.telemetry.metrics.trimmed
        )
        self.supervisor = Supervisor()
        self.started = False

    def _publisher(self) -> Publisher | ClusterPublisher:
        settings = self.settings
        durability = functools.partial(
            Durability,
            fsync_declared=settings.redis_fsync_declared,
            replicas=settings.redis_waitaof_replicas,
            timeout_ms=settings.redis_waitaof_timeout_ms,
        )
        if redis_connect.is_cluster(self.redis):
            return ClusterPublisher(cast(RedisCluster, self.redis), settings.redis_url, durability)
        return Publisher(self.redis, durability(self.redis))

    @functools.cached_property
    def vault(self) -> Vault:
        """The service's keyring (outside the database), read when first needed."""
        return Vault.load(self.settings.vault_path, create=self.settings.vault_create)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """One transaction; the events it emits are published once it has committed.

        Its audit records are appended last, so the audit chain's head is the last lock any
        transaction takes (on PostgreSQL, a head taken between two other locks deadlocks).
        """
        async with self.database.transaction() as session:
            uow = UnitOfWork(
                session, source=event_source(self.name), registry=self.spec.registry,
                signer=self.signer, case_partitions=self.settings.case_stream_partitions,
            )  # fmt: skip
            yield uow
            await uow.finish()
            key = self.vault.chain_key if uow.audits or current_audit.get() else b""
            for record in uow.audits:
                await append(session, record, key)
            audited = await append_pending(session, key)
        if audited is not None:
            audited.recorded = True
        if appended := len(uow.audits) + (audited is not None):
            self.telemetry.metrics.audited(appended)
        if uow.emitted:
            self.relay.wake()
        for committed in uow.committed:
            committed()

    async def audit(self, record: AuditRecord) -> None:
        """Record one audit entry in its own transaction."""
        async with self.database.transaction() as session:
            await append(session, record, self.vault.chain_key)
        self.telemetry.metrics.audited()

    async def start(self) -> None:
        if self.settings.migrate_on_start and self.spec.migrations:
            await upgrade(self.database, self.spec.migrations, vault=self.vault)
        if self.spec.housekeeping is not None:
            await self.spec.housekeeping(self)
        for consumer in self.consumers:
            await consumer.provision()
        await self.broker.start()
        self.supervisor.run("relay", self.relay.run)
        for name, job in self._periodic_jobs().items():
            self.supervisor.every(f"maintenance:{name}", self.settings.maintenance_interval_s, job)
        for work in self.spec.workers:
            self.supervisor.keep_running(
                f"worker:{getattr(work, '__name__', 'worker')}", functools.partial(work, self)
            )
        self.started = True
        log.info("%s started as %s", self.name, self.instance)

    async def stop(self) -> None:
        """Stop consuming, then the background tasks; each step bounded, so a stuck step is
        logged and the process still ends."""
        self.started = False
        maintenance = [name for name in self.supervisor.tasks if name.startswith("maintenance:")]
        await self.supervisor.stop(*maintenance, within=STOP_TIMEOUT_S)  # it revives consumers
        await _bounded(self.broker.stop(), "the broker")
        await self.supervisor.stop(within=STOP_TIMEOUT_S)
        await _bounded(self.relay.publisher.aclose(), "the relay's Redis clients")
        await _bounded(self.redis.aclose(), "the Redis client")
        await _bounded(self.database.dispose(), "the database pool")
        log.info("%s stopped", self.name)
        self.telemetry.shutdown()

    def _periodic_jobs(self) -> dict[str, Callable[[], Awaitable[object]]]:
        """Each runs in its own task: one failing leaves the others running."""
        jobs: dict[str, Callable[[], Awaitable[object]]] = {
            "consumers": self._maintain_consumers,
            "outbox": self._observe_outbox,
        }
        if self.spec.housekeeping is not None:
            jobs["housekeeping"] = functools.partial(self.spec.housekeeping, self)
        if self.settings.applies_retention:  # its Redis user alone may run INFO
            jobs["retention"] = self.retention.run
            jobs["redis"] = self._observe_redis
        return jobs

    async def _maintain_consumers(self) -> None:
        for consumer in self.consumers:  # one failing leaves the others maintained
            try:
                await consumer.maintain()
            except Exception:
                stop_if_cancelled()
                log.exception("maintaining %s failed; again next round", consumer.stream)

    async def _observe_redis(self) -> None:
        await figures.observe_redis(self.redis, self.telemetry.metrics, holder=self.instance,
                                    round_s=self.settings.maintenance_interval_s)  # fmt: skip

    async def _observe_outbox(self) -> None:
        relay = self.relay
        self.telemetry.metrics.observe_outbox(await relay.backlog(), await relay.oldest_waiting_s())

    async def problems(self) -> dict[str, str]:
        """What is not ready, with a reason safe to show: a dependency, a dead task, a
        stopped consumer, or an outbox Redis could lose."""
        found: dict[str, str] = {}
        if not self.started:
            found["service"] = "starting"
        else:
            found |= self.supervisor.problems()
            for consumer in self.consumers:
                if not consumer.alive:
                    found[f"consumer:{consumer.stream}"] = "stopped"
        if self.relay.publisher.problem is not None:
            found["durability"] = "unconfirmed: see the relay's log"
        try:
            await self.redis.ping()
        except Exception as error:
            found["redis"] = type(error).__name__
        try:
            await self.database.ping()
        except Exception as error:
            found["database"] = type(error).__name__
        return found
