from typing import ClassVar

from shared.names import Service
from shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    """Verification's settings (env prefix ``SAFERETURN_VERIFICATION_``, then ``SAFERETURN_``)."""

    service_name: ClassVar[str] = Service.VERIFICATION
