from typing import ClassVar

from pydantic import Field, PositiveFloat, PositiveInt

from shared.names import Service
from shared.settings import ServiceSettings


class StatsSettings(ServiceSettings):
    """Stats' settings (env prefix ``SAFERETURN_STATS_``, then ``SAFERETURN_``)."""

    service_name: ClassVar[str] = Service.STATS

    suppression_k: PositiveInt = Field(
        default=5, description="Public counts of persons below this are suppressed"
    )
    read_your_writes_wait_s: float = Field(
        default=10.0, description="How long a report waits for an event it was asked to include"
    )
    public_cache_s: PositiveFloat = Field(
        default=60.0,
        description="How long a year's open aggregates (and the dashboard's) are kept and given "
        "alike to every caller before they are computed again",
    )
    dashboard_per_minute: PositiveInt = Field(
        default=60, description="Dashboard requests allowed per minute from one address"
    )
    htcds_k: int = Field(
        default=11, ge=2,
        description="The HTCDS export's k-anonymity: every released combination of "
        "quasi-identifiers occurs at least this often (CTDC publishes with 11); a request may "
        "ask for more, never for less",
    )  # fmt: skip
    htcds_max_suppressed: float = Field(
        default=0.1, ge=0.0, le=1.0,
        description="The share of records the HTCDS export may suppress before it generalises "
        "further (withholds another field)",
    )  # fmt: skip
