"""What each counted person, activity and payment adds to the form, day by day. The form of any
period and area is the sum of these over the period's days, so stats keeps the sums by day,
area and row (``tallies``) and a form costs the same whatever the history behind it.

Rows that count persons once in a period however many times they were helped in it (II.4.*)
cannot be summed day by day as they stand. A person helped on days d1 < d2 < … < dn adds one on
each of those days (a *point*) and takes one away for each two consecutive days (a *span*
(d_i, d_i+1)). Within a period the points inside it less the spans wholly inside it are the
runs of consecutive helped days inside it: one, if the person was helped in it at all.

``domain.form`` remains the rule (the recount these sums must always equal)."""

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date
from itertools import pairwise

from services.stats.domain import (
    KEYS,
    Activity,
    Payment,
    Person,
    Protection,
    Support,
    activity_rows,
    payment_rows,
    person_rows,
    support_rows,
)

Key = tuple[str, date, date]
"""A row, the day, and the day it ends on: the same day for a point, a later day for a span.
A contribution counts in a period when both days are in it."""


def _rows_of(count: Callable[[dict[str, int]], None]) -> dict[str, int]:
    rows = dict.fromkeys(KEYS, 0)
    count(rows)
    return {key: n for key, n in rows.items() if n}


def of_person(
    person: Person, protections: Iterable[Protection], supports: Iterable[Support]
) -> Counter[Key]:
    """A counted person (as decided: see ``domain.as_decided``) with what was done for them and
    their merged duplicates."""
    found: Counter[Key] = Counter()
    found["I.1", person.received_on, person.received_on] += 1
    if person.identified_on is not None:
        found["I.2", person.identified_on, person.identified_on] += 1
        if person.consent_statistics:
            for row, n in _rows_of(lambda rows: person_rows(rows, person)).items():
                found[row, person.identified_on, person.identified_on] += n
    for order in protections:
        found["I.3", order.starts_on, order.starts_on] += order.persons
    for row, days in _helped(supports, consenting=person.consent_statistics).items():
        ordered = sorted(days)
        for day in ordered:
            found[row, day, day] += 1
        for first, last in pairwise(ordered):
            found[row, first, last] -= 1
    return _nonzero(found)


def _helped(supports: Iterable[Support], *, consenting: bool) -> dict[str, set[date]]:
    """The days a person was helped, by row (``domain.support_rows``)."""
    days: dict[str, set[date]] = {}
    for support in supports:
        for row in support_rows(support.kind, consenting=consenting):
            days.setdefault(row, set()).add(support.on)
    return days


def _nonzero(found: Counter[Key]) -> Counter[Key]:
    return Counter({key: n for key, n in found.items() if n})  # spans are negative: not +found


def of_activity(activity: Activity) -> Counter[Key]:
    rows = _rows_of(lambda counts: activity_rows(counts, activity))
    return Counter({(row, activity.held_on, activity.held_on): n for row, n in rows.items()})


def of_payment(payment: Payment) -> Counter[Key]:
    rows = _rows_of(lambda counts: payment_rows(counts, payment))
    return Counter({(row, payment.paid_on, payment.paid_on): n for row, n in rows.items()})


def form(keys: Counter[Key], start: date, end: date) -> dict[str, int]:
    """The form of a period from contributions (what ``tallies`` sums in the database)."""
    rows = dict.fromkeys(KEYS, 0)
    for (row, day, last), n in keys.items():
        if start <= day and last <= end:
            rows[row] += n
    return rows
