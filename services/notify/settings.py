from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, IPvAnyNetwork, PositiveFloat, PositiveInt, SecretStr, field_validator
from pydantic_settings import NoDecode

from services.notify import domain
from shared.names import Service
from shared.settings import ServiceSettings, trusted_url

HERE = Path(__file__).parent


class NotifySettings(ServiceSettings):
    """Notify's settings (env prefix ``SAFERETURN_NOTIFY_``, then ``SAFERETURN_``)."""

    service_name: ClassVar[str] = Service.NOTIFY

    routes_file: Path = Field(default=HERE / "routes.toml", description="Routing rules, as data")
    templates_dir: Path = Field(default=HERE / "templates", description="Jinja2 templates")

    smtp_host: str = "127.0.0.1"
    smtp_port: PositiveInt = 25
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "SafeReturn <no-reply@safereturn.invalid>"

    sms_gateway_url: str | None = Field(
        default=None, description="A generic JSON SMS gateway: POST {to, text, reference}"
    )
    sms_gateway_token: SecretStr | None = None

    intake_credentials_file: Path | None = Field(
        default=None,
        description="JSON {client_id, client_secret} of notify's service client at intake, to "
        "fetch a person's contact at send time; default <data_dir>/secrets/notify-client.json",
    )

    webhook_allow_networks: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="Networks webhooks may reach although they are not public, comma-separated "
        "(e.g. 127.0.0.0/8,::1/128 for embedded mode and tests, whose receivers are on "
        "loopback). Empty in production: every webhook goes to a public address, checked at "
        "each attempt on the address connected to",
    )
    ping_answer_s: PositiveFloat = Field(
        default=5.0,
        description="A subscription's test ping answers after this long whatever happened (and "
        "the attempt is cut there), so its timing tells nothing about the target",
    )
    ping_rate_per_minute: PositiveInt = Field(
        default=6, description="Test pings a client may send per minute"
    )

    delivery_poll_interval_s: PositiveFloat = 0.25
    delivery_batch: PositiveInt = 20
    delivery_timeout_s: PositiveFloat = Field(
        default=5.0, description="Waiting for a channel's peer (each SMTP step, each HTTP call)"
    )
    delivery_attempt_timeout_s: PositiveFloat = Field(
        default=30.0,
        description="The longest one attempt may take, every step together (the person's "
        "contact from intake, then the send); longer is a timeout, retried",
    )
    delivery_lease_s: PositiveFloat = Field(
        default=60.0,
        description="How long a replica's claim on a delivery holds; renewed while its attempt "
        "runs, so only a crashed or stalled replica's claim runs out and is taken over",
    )
    intake_timeout_s: PositiveFloat = Field(
        default=5.0, description="Waiting for intake's answer when fetching a person's contact"
    )
    delivery_max_attempts: PositiveInt = Field(
        default=6,
        description="Attempts at a mail or SMS before it fails (webhooks follow "
        "their retry schedule)",
    )
    retry_base_s: PositiveFloat = Field(
        default=2.0, description="Mail and SMS: the first wait, doubled at each retry"
    )
    retry_cap_s: PositiveFloat = Field(default=600.0, description="Mail and SMS: the longest wait")
    webhook_retry_schedule_s: Annotated[list[PositiveFloat], NoDecode] = Field(
        default_factory=lambda: list(domain.WEBHOOK_RETRY_SCHEDULE_S),
        max_length=50,
        description="Webhooks: the waits after each failed attempt, comma-separated seconds; "
        "one attempt more than waits. The default (Standard Webhooks, as Svix) tries at once, "
        "then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h: about 27.5 hours",
    )
    webhook_retry_jitter: float = Field(
        default=0.1, ge=0.0, le=0.5,
        description="Webhooks: each wait is moved at random by up to this fraction of it",
    )  # fmt: skip
    subscription_disable_after_s: PositiveFloat = Field(
        default=5 * 86400.0,
        description="A subscription whose deliveries have kept failing this long without one "
        "success is disabled and its owner told (5 days, as Svix)",
    )
    subscription_replay_max_range_s: PositiveFloat = Field(
        default=14 * 86400.0, description="The longest time range one replay may cover"
    )
    breaker_failures: PositiveInt = Field(
        default=5, description="Consecutive failures that open an endpoint's circuit"
    )
    breaker_cooldown_s: PositiveFloat = 30.0
    endpoint_rate_per_minute: PositiveInt = 120

    intake_url: str | None = Field(
        default=None,
        description="Intake's base URL (notify sends its secret there and reads contacts): "
        "required outside embedded mode; https, or plain http on loopback only",
    )

    @field_validator("intake_url")
    @classmethod
    def _intake_over_a_trusted_channel(cls, url: str | None) -> str | None:
        if url is not None and not trusted_url(url):
            raise ValueError(
                "SAFERETURN_NOTIFY_INTAKE_URL must be an https URL, or plain http on loopback"
            )
        return url

    @field_validator("webhook_retry_schedule_s", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allow_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def intake(self) -> str:
        if self.intake_url:
            return self.intake_url.rstrip("/")
        return self.embedded_intake("SAFERETURN_NOTIFY_INTAKE_URL")

    @property
    def credentials_file(self) -> Path:
        return self.intake_credentials_file or self.data_dir / "secrets" / "notify-client.json"
