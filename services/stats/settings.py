from typing import ClassVar

from shared.names import Service
from shared.settings import ServiceSettings


class StatsSettings(ServiceSettings):
    """Stats' settings (env prefix ``SAFERETURN_STATS_``, then ``SAFERETURN_``)."""

    service_name: ClassVar[str] = Service.STATS
