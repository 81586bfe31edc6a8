"""Settings: one pydantic-settings base, subclassed per service with its own env prefix.

A value is looked up as ``SAFERETURN_<SERVICE>_<FIELD>`` first, then as the platform-wide
``SAFERETURN_<FIELD>``, then — when ``SAFERETURN_SECRETS_DIR`` names a folder (secrets mounted by
Compose or Kubernetes) — in a file of that folder named like either variable, then the default.
Build settings once per process and pass them down.
"""

import ipaddress
import os
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from shared.db import PoolLimits
from shared.names import HTTP_PORTS, RETENTION_SERVICE, Service

PLATFORM_ENV_PREFIX = "SAFERETURN_"
SECRETS_DIR_VARIABLE = "SAFERETURN_SECRETS_DIR"


class ServiceSettings(BaseSettings):
    """What every service needs to run; subclasses set ``service_name`` and ``http_port``."""

    model_config = SettingsConfigDict(env_prefix=PLATFORM_ENV_PREFIX, extra="ignore")

    service_name: ClassVar[str] = "platform"

    redis_url: str = "redis://127.0.0.1:6390/0"
    redis_max_connections: PositiveInt = Field(
        default=100, description="Connections this process opens to Redis at most (its pool)."
    )
    redis_pool_wait_s: PositiveFloat = Field(
        default=10.0,
        description="How long a request waits for one of the pool's connections when all are "
        "in use, before it fails (under load it waits its turn instead of failing at once).",
    )
    case_stream_partitions: PositiveInt = Field(
        default=1,
        description="How many streams carry the case stream, split by case id (each case's "
        "events in one, in order; each on its own cluster slot). The same on every service; "
        "deploy/README.md says how to grow it.",
    )
    redis_cluster: bool = Field(
        default=False,
        description="redis_url names a node of a Redis Cluster: connect through cluster-aware "
        "clients (shared.redis_connect).",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; defaults to a SQLite file in data_dir."
    )
    database_pool_size: PositiveInt = Field(
        default=10, description="PostgreSQL: connections this process keeps open."
    )
    database_max_overflow: NonNegativeInt = Field(
        default=5, description="PostgreSQL: connections opened beyond the pool under a burst."
    )
    database_pool_timeout_s: PositiveFloat = Field(
        default=30.0, description="PostgreSQL: how long a unit of work waits for a connection."
    )
    database_statement_timeout_ms: NonNegativeInt = Field(
        default=30_000,
        description="PostgreSQL: a statement running longer is cancelled (0: no limit; "
        "migrations run without one). TLS: add ?ssl=verify-full to the URL.",
    )
    data_dir: Path = Path("data")
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    otel_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP collector base URL; traces stay in-process if unset."
    )
    consumer_name: str | None = Field(
        default=None, description="Unique per process; defaults to service@host-pid."
    )
    migrate_on_start: bool = True
    vault_keyring: Path | None = Field(
        default=None,
        description="The service's key file (sealing keys, blind-index key, audit chain key); "
        "defaults to data_dir/<service>-vault.json. Never in the database.",
    )
    vault_create: bool = Field(
        default=True, description="Make a keyring on first start (embedded mode); off in production"
    )
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="JSON lines (time, level, service, logger, message, trace and span ids, "
        "event id and type) for collectors; text for a person at a terminal.",
    )

    max_body_bytes: PositiveInt = 262_144
    embedded: bool = Field(
        default=False,
        description="Run by `safereturn up` or `demo`: every service on this machine, so "
        "intake's JWKS is found on loopback without SAFERETURN_JWKS_URL.",
    )
    jwks_url: str | None = Field(
        default=None,
        description="Intake's token signing keys (…/.well-known/jwks.json): required outside "
        "embedded mode; https, or plain http on loopback only.",
    )
    token_ttl_s: PositiveInt = 600
    revocation_refresh_s: float = 2.0
    rate_limit_per_minute: PositiveInt = 1200
    login_failure_limit: PositiveInt = Field(
        default=5, description="Failed logins for one client from one address, per window."
    )
    login_failure_limit_per_client: PositiveInt = Field(
        default=50, description="Failed logins for one client from anywhere, per window."
    )
    login_failure_limit_per_address: PositiveInt = Field(
        default=50,
        description="Logins naming no client, per address and window (never applied to a "
        "real client's: behind a proxy the address is everyone's).",
    )
    login_failure_window_s: PositiveInt = 900

    batch_size: PositiveInt = 500
    poll_interval_ms: PositiveInt = 100
    reclaim_idle_ms: PositiveInt = 30_000
    max_deliveries: PositiveInt = 5
    relay_batch_size: PositiveInt = 500
    relay_poll_interval_ms: PositiveInt = 200
    maintenance_interval_s: float = 15.0
    stale_consumer_idle_ms: PositiveInt = 3_600_000

    event_signing_key_file: Path | None = Field(
        default=None,
        description="This service's Ed25519 key (PEM) that signs the events it publishes; "
        "defaults to keys/<service>.events.pem in data_dir.",
    )
    event_public_keys: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Service → its event signing public keys (base64url, raw Ed25519), as "
        "JSON. When set, consumers apply only events their allowed producer signed.",
    )

    redis_fsync_declared: bool = Field(
        default=False,
        description="Redis < 7.2 runs appendonly yes and appendfsync always, and this service's "
        "ACL user may not run CONFIG GET to check it (docs/reliability.md).",
    )
    redis_waitaof_replicas: NonNegativeInt = Field(
        default=0,
        description="Replicas that must also hold each batch the relay publishes before it is "
        "marked published: their AOF on Redis 7.2+ (WAITAOF), their memory before (WAIT). On "
        "a cluster, 1 keeps a batch through its primary's failover.",
    )
    redis_waitaof_timeout_ms: PositiveInt = 1000

    retention_enabled: bool | None = Field(
        default=None,
        description="Apply stream retention from this service (its Redis user needs XTRIM on "
        "every stream, and BGREWRITEAOF); one replica at a time applies it. Default: on for "
        "the retention service (intake), whose Redis user alone has those rights.",
    )
    retention_interval_s: PositiveFloat = 60.0
    stream_keep_acknowledged_s: NonNegativeFloat = Field(
        default=3600.0, description="Acknowledged entries younger than this are not trimmed."
    )
    dead_letter_retention_s: PositiveFloat = Field(
        default=30 * 86_400.0, description="Dead letters older than this are trimmed."
    )
    rejected_retention_s: PositiveFloat = Field(
        default=30 * 86_400.0, description="Rejected submissions older than this are trimmed."
    )
    public_stream_retention_s: PositiveFloat = Field(
        default=14 * 86_400.0,
        description="Entries of the integrators' streams older than this are trimmed "
        "(integrators read them in their own groups, which retention does not wait for: one "
        "away longer misses what was trimmed).",
    )
    aof_rewrite_interval_s: PositiveFloat = Field(
        default=3600.0,
        description="At most one AOF rewrite per this interval, after personal data was "
        "deleted: the longest a deleted entry stays in the AOF (plus one retention interval).",
    )

    @field_validator("jwks_url")
    @classmethod
    def _keys_over_a_trusted_channel(cls, url: str | None) -> str | None:
        # Whoever answers this address decides which tokens every service accepts.
        if url is not None and not trusted_url(url):
            raise ValueError(
                "SAFERETURN_JWKS_URL must be an https URL, or plain http on loopback "
                "(127.0.0.1, ::1, localhost)"
            )
        return url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        service_prefix = f"{PLATFORM_ENV_PREFIX}{cls.service_name.upper()}_"
        service_env = EnvSettingsSource(settings_cls, env_prefix=service_prefix)
        secrets: tuple[PydanticBaseSettingsSource, ...] = ()
        if folder := os.environ.get(SECRETS_DIR_VARIABLE):
            secrets = tuple(
                SecretsSettingsSource(settings_cls, secrets_dir=folder, env_prefix=prefix)
                for prefix in (service_prefix, PLATFORM_ENV_PREFIX)
            )
        return init_settings, service_env, env_settings, dotenv_settings, *secrets

    @property
    def vault_path(self) -> Path:
        return self.vault_keyring or self.data_dir / f"{self.service_name}-vault.json"

    @property
    def port(self) -> int:
        if self.http_port is not None:
            return self.http_port
        return HTTP_PORTS[Service(self.service_name)]

    @property
    def signing_keys_url(self) -> str:
        """Intake's JWKS; derived only in embedded mode, where intake listens on loopback."""
        if self.jwks_url:
            return self.jwks_url
        return f"{self.embedded_intake('SAFERETURN_JWKS_URL')}/.well-known/jwks.json"

    def embedded_intake(self, setting: str) -> str:
        """Intake's base URL as found in embedded mode (on loopback); elsewhere ``setting``
        must say it: intake's bind address (0.0.0.0 in the image) is not where it is."""
        if not self.embedded:
            raise MissingSetting(
                f"{setting} is not set: outside embedded mode it must give intake's address "
                "(https, or plain http on loopback only)"
            )
        intake = settings_for(Service.INTAKE)
        host = "127.0.0.1" if intake.http_host in WILDCARD_HOSTS else intake.http_host
        url = f"http://{_url_host(host)}:{intake.port}"
        if not trusted_url(url):
            raise MissingSetting(
                f"{setting} is not set and intake listens on {host}, not on loopback: set it "
                "to an https URL"
            )
        return url

    @property
    def signing_key_path(self) -> Path:
        if self.event_signing_key_file is not None:
            return self.event_signing_key_file
        return self.data_dir / "keys" / f"{self.service_name}.events.pem"

    @property
    def applies_retention(self) -> bool:
        if self.retention_enabled is not None:
            return self.retention_enabled
        return self.service_name == RETENTION_SERVICE

    @property
    def database_limits(self) -> PoolLimits:
        return PoolLimits(
            self.database_pool_size,
            self.database_max_overflow,
            self.database_pool_timeout_s,
            self.database_statement_timeout_ms,
        )

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / f'{self.service_name}.db'}"


class MissingSetting(ValueError):
    """A setting this process needs and has not got; the message names it."""


WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - recognised, not bound


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def trusted_url(url: str) -> bool:
    """https anywhere, plain http only on loopback (nothing between the processes to trust)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(host)
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_for(service: str) -> ServiceSettings:
    """The base settings of ``service`` as its process will see them (same env lookup)."""
    cls: type[ServiceSettings] = type(
        f"{service.title()}BaseSettings", (ServiceSettings,), {"service_name": service}
    )
    return cls()
