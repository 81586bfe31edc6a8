from typing import ClassVar

from pydantic import Field, PositiveInt

from shared.names import Service
from shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    """Verification's settings (env prefix ``SAFERETURN_VERIFICATION_``, then ``SAFERETURN_``)."""

    service_name: ClassVar[str] = Service.VERIFICATION

    unknown_limit_days: PositiveInt | None = Field(
        default=None,
        description="Days allowed where the law sets no limit (steps marked known = false)",
    )
    unknown_limits: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description='Days per step the law leaves open, "<procedure>.<step>": days; wins over '
        "unknown_limit_days",
    )
