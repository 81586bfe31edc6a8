from typing import ClassVar

from shared.names import Service
from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Intake's settings (env prefix ``SAFERETURN_INTAKE_``, then ``SAFERETURN_``)."""

    service_name: ClassVar[str] = Service.INTAKE
