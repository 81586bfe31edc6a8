"""Who may act on support: a provider on the referrals addressed to it, and a second officer
on what one officer grants beyond the approval threshold. Pure rules, no I/O.

Four eyes over a period: the threshold applies to the sum one officer grants for one case and
kind over the last ``APPROVAL_PERIOD`` (a rolling twelve months, by when each grant was
recorded, which the officer cannot backdate), not to each grant alone. So splitting an amount
into grants under the threshold gains nothing: the grant that takes the sum above it, and every
later one in the period, waits for a second officer. Rejected grants grant nothing and do not
count; pending and approved ones do.
"""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from uuid6 import UUID

from shared.access import Principal, Role

APPROVAL_PERIOD = timedelta(days=365)
"""Twelve months, as the support periods of Decree 09/2013 (Art. 23) are counted."""


@dataclass(frozen=True, slots=True)
class EarlierGrant:
    """A grant the same officer made for the same case and kind."""

    amount: int
    recorded_at: datetime
    status: str


def needs_second_officer(
    amount: int, earlier: Iterable[EarlierGrant], threshold: int, now: datetime
) -> bool:
    """Whether a grant waits for approval: the officer's grants for the case and kind within
    the period, this one included, come to more than the threshold."""
    since = now - APPROVAL_PERIOD
    counted = sum(g.amount for g in earlier if g.status != "rejected" and g.recorded_at > since)
    return counted + amount > threshold


def recorded_at(grant_id: str) -> datetime:
    """When a grant was recorded: its id is a UUIDv7, whose first 48 bits are the Unix time in
    milliseconds (RFC 9562), set by the service, not by the caller."""
    uuid = UUID(grant_id)
    if uuid.version != 7:  # never made so; counted as recent rather than forgotten
        return datetime.now(UTC)
    return datetime.fromtimestamp(uuid.time / 1000, UTC)


def _agency_key(name: str) -> str:
    """An agency's name as registered and as a referral names it: case, Unicode form and
    spacing do not matter."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def may_answer(principal: Principal, provider: str) -> bool:
    """A provider answers only the referrals addressed to its own agency (the ``agency`` claim
    of its token, the agency its client was registered for); support officers act on any
    referral of their area."""
    if principal.role is not Role.PROVIDER:
        return True
    return _agency_key(principal.agency) == _agency_key(provider)
