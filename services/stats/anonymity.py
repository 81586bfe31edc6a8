"""k-anonymity for released case records: every released record's quasi-identifiers occur
together in at least k released records. Pure.

Every field released is treated as a quasi-identifier (there is no released "sensitive" field
outside the combination), so the records of one equivalence class are identical.

The algorithm (global recoding on a fixed ladder, then suppression; docs/htcds-export.md):
1. Exact age is generalised to CTDC's ``ageBroad`` band and ``majorityStatus``; it is never
   released.
2. For each rung of ``LADDER`` in turn (each withholds more fields from every record), the
   records whose combination occurs fewer than k times would be suppressed. The first rung
   that suppresses at most ``max_suppressed`` of the records is released; if none does, the
   rung that suppresses fewest (the lower rung on a tie).
3. At that rung, the records of every class smaller than k are suppressed (left out whole).
4. The released records are sorted by their values, so their order says nothing of the cases
   (not when they were received, nor in which order they were identified).
"""

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

QUASI_IDENTIFIERS = ("yearOfRegistration", "prs_Gender", "ageBroad", "majorityStatus",
                     "prs_Citizenship", "vic_TypeOfExploitation", "hte_Country",
                     "org_ShippingState")  # fmt: skip
"""The fields that vary between records (the rest are constants of the export)."""

LADDER: tuple[tuple[str, ...], ...] = (
    (),
    ("ageBroad",),
    ("ageBroad", "org_ShippingState"),
    ("ageBroad", "org_ShippingState", "yearOfRegistration"),
    ("ageBroad", "org_ShippingState", "yearOfRegistration", "prs_Citizenship"),
    ("ageBroad", "org_ShippingState", "yearOfRegistration", "prs_Citizenship", "hte_Country"),
)
"""The fields withheld from every record at each rung: age to majority status first, then the
area, the year, citizenship, and the country of exploitation. Gender, majority status and the
type of exploitation are what international reporting needs most, and are kept to the end."""

Record = dict[str, Any]
Generalise = Callable[[Record], Record]


@dataclass(frozen=True)
class Release:
    """What may be released, and how it was made."""

    records: list[Record]
    kept: list[int]  # the positions, among the records given, of those released
    suppressed: int
    rung: int
    withheld: tuple[str, ...]


def combination(record: Record) -> tuple[tuple[str, Any], ...]:
    """A record's quasi-identifiers, hashable (its equivalence class)."""
    return tuple(sorted(record.items()))


def withheld(record: Record, fields: Sequence[str]) -> Record:
    return {name: value for name, value in record.items() if name not in fields}


def anonymised(
    records: Sequence[Record], k: int, max_suppressed: float, generalise: Generalise
) -> Release:
    """The records ``generalise``d, then recoded and suppressed until every combination
    released occurs at least ``k`` times (the module's algorithm)."""
    if k < 1:
        raise ValueError("k is at least 1")
    general = [generalise(record) for record in records]
    best: Release | None = None
    for rung, fields in enumerate(LADDER):
        view = [withheld(record, fields) for record in general]
        sizes = Counter(combination(record) for record in view)
        kept = [i for i, record in enumerate(view) if sizes[combination(record)] >= k]
        candidate = Release(
            records=sorted((view[i] for i in kept), key=_order),
            kept=kept,
            suppressed=len(view) - len(kept),
            rung=rung,
            withheld=fields,
        )
        if candidate.suppressed <= max_suppressed * len(view):
            return candidate
        if best is None or candidate.suppressed < best.suppressed:
            best = candidate
    assert best is not None
    return best


def _order(record: Record) -> str:
    return json.dumps(record, sort_keys=True, default=list, ensure_ascii=False)


def smallest_class(records: Sequence[Record]) -> int | None:
    """The size of the smallest equivalence class among the records (None if there are none)."""
    sizes = Counter(combination(record) for record in records)
    return min(sizes.values()) if sizes else None
