from pathlib import Path
from typing import ClassVar

from pydantic import Field, PositiveInt

from services.support.applications import LIMITS_FILE
from services.support.policies import POLICY_DIR
from shared.names import Service
from shared.settings import ServiceSettings


class SupportSettings(ServiceSettings):
    """Support's settings (env prefix ``SAFERETURN_SUPPORT_``, then ``SAFERETURN_``)."""

    service_name: ClassVar[str] = Service.SUPPORT

    policy_dir: Path = Field(
        default=POLICY_DIR, description="Folder of the legal support tables (one TOML per document)"
    )
    approval_threshold_vnd: PositiveInt = Field(
        default=2_000_000,
        description="Grants above this amount (VND) need a second officer's approval",
    )
    application_limits_file: Path = Field(
        default=LIMITS_FILE,
        description="The processing limits of applications for support (TOML, one per regime)",
    )
    unknown_application_limit_days: PositiveInt | None = Field(
        default=None,
        description="Working days allowed where the sources confirm no limit (rows known = false)",
    )
