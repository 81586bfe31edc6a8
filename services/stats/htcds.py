"""Identified cases as records of the IOM Human Trafficking Case Data Standard (HTCDS) v2.0.

Pure. Field names and code lists are the standard's own, read from "HTCDS Field Standards
2.0.ods" in https://github.com/UNMigration/HTCDS (commit 3c2f653): ``prs_Gender``,
``prs_Citizenship`` (ISO 3166), ``vic_TraffickingStatus``, ``vic_TypeOfExploitation``,
``hte_Type``/``hte_Country`` (a historic trafficking event: where the person was exploited),
``org_ShippingCountry``/``org_ShippingState`` (where the receiving organisation is). HTCDS has no
age band: ``yearOfRegistration``, ``ageBroad`` and ``majorityStatus`` are the Counter Trafficking
Data Collaborative's (CTDC) fields for its k-anonymised global dataset, and say so in the
export's metadata. The mapping table, what is not exported and why: docs/htcds-export.md.

Every platform code is mapped or marked: a code the standard has no value for is released as
``UNMAPPABLE`` and counted in the export's ``unmapped`` metadata, never dropped silently. The
metadata names a raw code only if at least k released records carry it (``disclosed``): a class
of k records that all show ``UNMAPPABLE`` may hide a code only one person has.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pycountry

from services.stats import anonymity
from services.stats.domain import Period, Person

STANDARD = {
    "name": "IOM Human Trafficking Case Data Standard (HTCDS)",
    "version": "2.0",
    "source": "https://github.com/UNMigration/HTCDS, HTCDS Field Standards 2.0.ods",
    "age_bands": "CTDC global k-anonymised dataset (ageBroad, majorityStatus)",
}
UNMAPPABLE = "Unmappable"
"""The marker for a platform code the standard has no value for (counted in the metadata)."""
VIET_NAM = "VN"

# The standard's code lists, as HTCDS v2.0 spells them.
GENDERS = ("Feminine", "Masculine", "TransgenderFeminine", "TransgenderMasculine",
           "NonConforming", "NonSpecifiedUnknown")  # fmt: skip
EXPLOITATION_TYPES = ("ForcedLabour", "SexualExploitation", "ChildLabour", "ForcedMarriage",
                      "Servitude", "ForcedMilitaryByNonStateActors", "OrganRemoval",
                      "ForcedBegging", "ForcedAdoption", "Surrogacy", "Other")  # fmt: skip
TRAFFICKING_STATUSES = ("PossibleVictimOfTrafficking", "ActualVictimOfTrafficking",
                        "NotAVictimOfTrafficking")  # fmt: skip

# The platform's codes (shared/events/intake.py carries them; intake's catalogues list them).
GENDER = {"female": "Feminine", "male": "Masculine", "unknown": "NonSpecifiedUnknown"}
"""The platform records sex as reported; HTCDS asks gender. Nobody is recorded as transgender
or non-conforming, so those values are never released."""
EXPLOITATION = {
    "sexual_exploitation": "SexualExploitation",
    "forced_labour": "ForcedLabour",
    "forced_marriage": "ForcedMarriage",
    "organ_removal": "OrganRemoval",
    "surrogacy": "Surrogacy",
    "child_sale_adoption": "ForcedAdoption",  # the sale of a child for adoption
    "other": "Other",
}
SCOPES = ("domestic", "abroad", "unknown")
"""domestic: exploited in Viet Nam; abroad: in the destination country; unknown: no country."""

NOT_IN_STANDARD = {
    "ethnicity": "HTCDS v2.0 has no field for ethnic group (only example risk questions)",
    "reception_form": "HTCDS v2.0 has no field for how a person came back (self-returned, "
    "rescued, bilateral handover)",
    "ward": "finer than the area released (org_ShippingState, a province)",
    "age": "released as CTDC's ageBroad band or majorityStatus, never exact",
    "received_on, identified_on": "released as yearOfRegistration only",
    "case_id": "never released",
}
"""What the stats register holds and the export does not release, and why."""


def is_country(code: str | None) -> bool:
    return code is not None and pycountry.countries.get(alpha_2=code) is not None


AGE_BANDS = ((0, 8), (9, 17), (18, 20), (21, 23), (24, 26), (27, 29), (30, 38), (39, 47))
"""CTDC's ageBroad bands; 48 and over is "48+"."""


def age_band(age: int | None) -> str | None:
    """CTDC's ageBroad: ``0--8``, ``9--17``, …, ``39--47``, ``48+``; None if not recorded."""
    if age is None or age < 0:
        return None
    for low, high in AGE_BANDS:
        if low <= age <= high:
            return f"{low}--{high}"
    return "48+"


def majority(age: int | None) -> str | None:
    """CTDC's majorityStatus: Minor (under 18) or Adult; None if not recorded."""
    if age is None or age < 0:
        return None
    return "Minor" if age < 18 else "Adult"


@dataclass
class Unmapped:
    """The platform codes of one record that the standard has no value for, by HTCDS field."""

    codes: dict[str, set[str]] = field(default_factory=dict)

    def mark(self, htcds_field: str, code: str) -> str:
        self.codes.setdefault(htcds_field, set()).add(code)
        return UNMAPPABLE


def disclosed(
    released: Sequence[Unmapped], k: int, withheld: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The export's ``unmapped``: for each released field in which released records show
    ``UNMAPPABLE``, how many do (``records``, as the records themselves say), the raw codes
    behind them that at least ``k`` of them carry (``codes``), and how many carry a code fewer
    than ``k`` do (``records_with_rarer_codes``, a code never named). ``released`` is the marks
    of the released records only: a suppressed person's codes are not counted either.

    A raw code is named only from a count of released records carrying it, compared with k
    here and nowhere else: a code one person has is hidden even when her whole class of k shows
    ``UNMAPPABLE`` (a class that hid ``QQ`` behind ten ``ZZ`` would name her citizenship)."""
    hidden = set(withheld)
    records: Counter[str] = Counter()
    carriers: dict[str, Counter[str]] = {}
    for mark in released:
        for name, codes in mark.codes.items():
            if name not in hidden:
                records[name] += 1
                carriers.setdefault(name, Counter()).update(codes)  # a set: once a record
    metadata = {}
    for name in sorted(records):
        named = {code for code, carried in carriers[name].items() if carried >= k}
        rarer = sum(1 for mark in released if not mark.codes.get(name, set()) <= named)
        metadata[name] = {"records": records[name], "codes": sorted(named),
                          "records_with_rarer_codes": rarer}  # fmt: skip
    return metadata


def _coded(table: Mapping[str, str], code: str, htcds_field: str, unmapped: Unmapped) -> str:
    return table[code] if code in table else unmapped.mark(htcds_field, code)


def _country(code: str | None, htcds_field: str, unmapped: Unmapped) -> str | None:
    if code is None:
        return None
    return code if is_country(code) else unmapped.mark(htcds_field, code)


def exploited_in(person: Person, unmapped: Unmapped) -> str | None:
    """hte_Country of the exploitation: Viet Nam if trafficked within it, the destination if
    abroad (None if not recorded), None if the scope is unknown."""
    if person.scope == "domestic":
        return VIET_NAM
    if person.scope == "abroad":
        return _country(person.destination, "hte_Country", unmapped)
    if person.scope == "unknown":
        return None
    return unmapped.mark("hte_Country", f"scope:{person.scope}")


def record(person: Person, unmapped: Unmapped) -> dict[str, Any]:
    """An identified person as an HTCDS record (before de-identification: ``age`` is exact and
    is generalised by ``anonymity``, never released)."""
    types = sorted({_coded(EXPLOITATION, p, "vic_TypeOfExploitation", unmapped)
                    for p in person.purposes})  # fmt: skip
    return {
        "yearOfRegistration": person.received_on.year,
        "prs_Gender": _coded(GENDER, person.sex, "prs_Gender", unmapped),
        "age": person.age,
        "prs_Citizenship": _country(person.nationality, "prs_Citizenship", unmapped),
        "vic_TraffickingStatus": "ActualVictimOfTrafficking",
        "vic_TypeOfExploitation": tuple(types),
        "hte_Type": "Exploitation",
        "hte_Country": exploited_in(person, unmapped),
        "org_ShippingCountry": VIET_NAM,
        "org_ShippingState": person.province,
    }


def generalised(record: dict[str, Any]) -> dict[str, Any]:
    """Exact age replaced by CTDC's band and majority status."""
    general = {name: value for name, value in record.items() if name != "age"}
    return general | {
        "ageBroad": age_band(record["age"]),
        "majorityStatus": majority(record["age"]),
    }


def release(
    persons: Iterable[Person], period: Period, k: int, max_suppressed: float
) -> dict[str, Any]:
    """The identified persons of ``period`` (by their identification's date, as row I.2 counts
    them; merged duplicates once, as the kept case) as k-anonymous HTCDS records, with what was
    done to them. Persons who refused consent for statistics are left out, and counted."""
    identified = [p for p in persons if not p.merged and p.identified_on in period]
    consenting = [p for p in identified if p.consent_statistics]
    marks = [Unmapped() for _ in consenting]
    rows = [record(person, mark) for person, mark in zip(consenting, marks, strict=True)]
    released = anonymity.anonymised(rows, k, max_suppressed, generalised)
    # only what is released: a suppressed person's codes, and withheld fields, stay hidden
    unmapped = disclosed([marks[i] for i in released.kept], k, released.withheld)
    return {
        "standard": STANDARD,
        "k": k,
        "quasi_identifiers": [q for q in anonymity.QUASI_IDENTIFIERS if q not in released.withheld],
        "withheld": list(released.withheld),
        "rung": released.rung,
        "counts": {"identified": len(identified),
                   "without_consent": len(identified) - len(consenting),
                   "released": len(released.records), "suppressed": released.suppressed},
        "unmapped": unmapped,
        "not_in_standard": NOT_IN_STANDARD,
        "records": [_listed(r) for r in released.records],
    }  # fmt: skip


def _listed(record: dict[str, Any]) -> dict[str, Any]:
    return {name: list(value) if isinstance(value, tuple) else value
            for name, value in record.items()}  # fmt: skip
