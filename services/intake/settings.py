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
