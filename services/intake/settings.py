from typing import ClassVar

from pydantic import Field, PositiveInt

from shared.names import Service
from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Intake's settings (env prefix ``SAFERETURN_INTAKE_``, then ``SAFERETURN_``)."""

    service_name: ClassVar[str] = Service.INTAKE

    submission_max_age_s: PositiveInt = Field(
        default=86_400,
        description="A stream submission added longer ago than this is refused (too_old); "
        "younger ones have their token judged as at the time they were added",
    )
    submission_accept_plaintext: bool = Field(
        default=False,
        description="Also accept submissions not encrypted to intake (a migration window "
        "only: their personal data lies in clear in Redis and its AOF until intake has read "
        "them and the AOF is rewritten); refused otherwise (not_encrypted)",
    )
