"""Settings: one pydantic-settings base, subclassed per service with its own env prefix.

A value is looked up as ``SAFERETURN_<SERVICE>_<FIELD>`` first, then as the platform-wide
``SAFERETURN_<FIELD>``, then the default. Build settings once per process and pass them down.
"""

from pathlib import Path
from typing import ClassVar

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shared.names import HTTP_PORTS, Service

PLATFORM_ENV_PREFIX = "SAFERETURN_"


class ServiceSettings(BaseSettings):
    """What every service needs to run; subclasses set ``service_name`` and ``http_port``."""

    model_config = SettingsConfigDict(env_prefix=PLATFORM_ENV_PREFIX, extra="ignore")

    service_name: ClassVar[str] = "platform"

    redis_url: str = "redis://127.0.0.1:6390/0"
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; defaults to a SQLite file in data_dir."
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

    max_body_bytes: PositiveInt = 262_144
    jwks_url: str | None = Field(
        default=None, description="Where the token signing keys are; defaults to intake's."
    )
    token_ttl_s: PositiveInt = 600
    revocation_refresh_s: float = 2.0
    rate_limit_per_minute: PositiveInt = 1200
    login_failure_limit: PositiveInt = 5
    login_failure_limit_per_address: PositiveInt = 50
    login_failure_window_s: PositiveInt = 900

    batch_size: PositiveInt = 500
    poll_interval_ms: PositiveInt = 100
    reclaim_idle_ms: PositiveInt = 30_000
    max_deliveries: PositiveInt = 5
    relay_batch_size: PositiveInt = 500
    relay_poll_interval_ms: PositiveInt = 200
    maintenance_interval_s: float = 15.0
    stale_consumer_idle_ms: PositiveInt = 3_600_000

    redis_fsync_declared: bool = Field(
        default=False,
        description="Redis < 7.2 runs appendonly yes and appendfsync always, and this service's "
        "ACL user may not run CONFIG GET to check it (docs/reliability.md).",
    )
    redis_waitaof_replicas: NonNegativeInt = Field(
        default=0, description="On Redis 7.2+, replicas whose AOF must also hold each batch."
    )
    redis_waitaof_timeout_ms: PositiveInt = 1000

    retention_enabled: bool = Field(
        default=True,
        description="Apply stream retention from this service (its Redis user needs XTRIM on "
        "every stream, and BGREWRITEAOF); one replica at a time applies it.",
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
    aof_rewrite_interval_s: PositiveFloat = Field(
        default=3600.0,
        description="At most one AOF rewrite per this interval, after personal data was "
        "deleted: the longest a deleted entry stays in the AOF (plus one retention interval).",
    )

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
        return init_settings, service_env, env_settings, dotenv_settings, file_secret_settings

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
        if self.jwks_url:
            return self.jwks_url
        intake = settings_for(Service.INTAKE)
        return f"http://{intake.http_host}:{intake.port}/.well-known/jwks.json"

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / f'{self.service_name}.db'}"


def settings_for(service: str) -> ServiceSettings:
    """The base settings of ``service`` as its process will see them (same env lookup)."""
    cls: type[ServiceSettings] = type(
        f"{service.title()}BaseSettings", (ServiceSettings,), {"service_name": service}
    )
    return cls()
