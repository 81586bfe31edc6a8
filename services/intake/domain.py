"""Intake's rules. Pure: no I/O, no framework.

A probe proves that an event published by intake reaches every other service and that the
services that publish answer on the bus; stats publishes nothing, so it is not awaited here.
"""

from dataclasses import dataclass
from datetime import datetime

from shared.names import Service

ANSWERING_SERVICES = frozenset({Service.VERIFICATION, Service.SUPPORT, Service.NOTIFY})


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    service: str
    received_at: datetime
    trace_id: str | None


@dataclass(frozen=True, slots=True)
class Probe:
    probe_id: str
    requested_at: datetime
    trace_id: str | None
    answers: tuple[ProbeAnswer, ...] = ()

    @property
    def missing(self) -> list[str]:
        answered = {answer.service for answer in self.answers}
        return sorted(ANSWERING_SERVICES - answered)

    @property
    def complete(self) -> bool:
        return not self.missing

    def hop_seconds(self) -> dict[str, float]:
        """Seconds from the request to each service's receipt of it."""
        return {
            answer.service: (answer.received_at - self.requested_at).total_seconds()
            for answer in self.answers
        }
