from typing import ClassVar

from shared.names import Service
from shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    """Notify's settings (env prefix ``SAFERETURN_NOTIFY_``, then ``SAFERETURN_``)."""

    service_name: ClassVar[str] = Service.NOTIFY
