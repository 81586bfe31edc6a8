from typing import ClassVar

from shared.names import Service
from shared.settings import ServiceSettings


class SupportSettings(ServiceSettings):
    """Support's settings (env prefix ``SAFERETURN_SUPPORT_``, then ``SAFERETURN_``)."""

    service_name: ClassVar[str] = Service.SUPPORT
