"""Reports and cases: what a valid report is, what it becomes, what it publishes. Pure.

A report's shape is checked by its model (``schemas``); ``problems`` adds the rules that span
fields or need code lists (dates against each other, codes, areas), naming every offending
field.
"""

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from rapidfuzz import fuzz
from vietnam_provinces import Province, ProvinceCode, Ward, WardCode

from services.intake.reports.catalogues import LABELS, Scope, countries, provinces, wards
from services.intake.reports.schemas import (
    ADULT_AGE,
    ActivityIn,
    AreaIn,
    MinorIn,
    PersonIn,
    ReportIn,
)
from shared.access import Area


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str
    code: str


@dataclass(frozen=True, slots=True)
class Place:
    province: str
    ward: str | None


def province_name(code: str) -> str:
    return Province.from_code(ProvinceCode(int(code))).name


def ward_name(code: str) -> str:
    return Ward.from_code(WardCode(int(code))).name


def convert_legacy(address: str) -> Place | None:
    """A pre-2025 address → its 2025 province and commune, if it names a known unit."""
    from vietnamadminunits import convert_address  # noqa: PLC0415 - heavy, rarely needed

    try:
        converted = convert_address(address)
    except Exception:  # the library raises plain errors for text it cannot place
        return None
    province, ward = converted.province_code, converted.ward_code
    if province not in provinces() or (ward is not None and wards().get(ward) != province):
        return None
    return Place(province, ward)


def place(area: AreaIn, field: str) -> tuple[Place | None, list[Problem]]:
    """The 2025 province and commune an area names, or the problems with it."""
    if area.legacy_address is not None or area.legacy_ward_code is not None:
        return _legacy_place(area, field)
    problem: Problem | None = None
    if area.province is None:
        problem = Problem(f"{field}.province", "a province code is required", "missing")
    elif area.province not in provinces():
        problem = Problem(f"{field}.province", "not a 2025 province code", "unknown_code")
    elif area.ward is not None and wards().get(area.ward) != area.province:
        problem = Problem(
            f"{field}.ward", "not a 2025 commune code of that province", "unknown_code"
        )
    if problem is not None or area.province is None:
        return None, [problem] if problem else []
    return Place(area.province, area.ward), []


def _legacy_place(area: AreaIn, field: str) -> tuple[Place | None, list[Problem]]:
    if area.province or area.ward or (area.legacy_address and area.legacy_ward_code):
        return None, [Problem(field, "give one of 2025 codes, a legacy address or code", "area")]
    if area.legacy_ward_code is not None:
        address = legacy_address_of(area.legacy_ward_code)
        converted = convert_legacy(address) if address else None
        if converted is None:
            message = "not a pre-2025 commune code"
            return None, [Problem(f"{field}.legacy_ward_code", message, "unknown_code")]
        return converted, []
    converted = convert_legacy(area.legacy_address or "")
    if converted is None:
        message = "the legacy address names no known administrative unit"
        return None, [Problem(f"{field}.legacy_address", message, "unknown_area")]
    return converted, []


def legacy_address_of(ward_code: str) -> str | None:
    """The pre-2025 commune, district and province named by a pre-2025 commune code."""
    from vietnamadminunits.database import query  # noqa: PLC0415 - heavy, rarely needed

    if not ward_code.isdigit():
        return None
    # The library takes SQL text only; the code is five digits (checked), so nothing to escape.
    statement = "SELECT ward, district, province FROM admin_units_legacy WHERE wardCode = '{}'"
    rows = query(statement.format(ward_code) + " LIMIT 1")
    return ", ".join(rows[0][k] for k in ("ward", "district", "province")) if rows else None


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def _person_problems(
    person: PersonIn | MinorIn, field: str, received: date, *, minor: bool
) -> list[Problem]:
    found: list[Problem] = []
    if person.birth_date is not None:
        if person.birth_date > received:
            found.append(Problem(f"{field}.birth_date", "is after received_at", "date_order"))
        elif minor and age_on(person.birth_date, received) >= ADULT_AGE:
            found.append(Problem(f"{field}.birth_date", "not under 18 on received_at", "not_minor"))
        consistent = person.age is None or person.birth_date > received
        if not consistent and abs(age_on(person.birth_date, received) - (person.age or 0)) > 1:
            found.append(Problem(f"{field}.age", "contradicts birth_date", "inconsistent"))
    if isinstance(person, PersonIn):
        if person.ethnicity is not None and person.ethnicity not in LABELS["ethnic_groups"]:
            found.append(
                Problem(f"{field}.ethnicity", "not a GSO ethnic group code", "unknown_code")
            )
        if person.nationality is not None and person.nationality not in countries():
            found.append(Problem(f"{field}.nationality", "not an ISO 3166-1 code", "unknown_code"))
        if person.residence is not None:
            found += place(person.residence, f"{field}.residence")[1]
        if person.stateless and person.nationality is not None:
            found.append(Problem(f"{field}.nationality", "a stateless person has none: give null",
                                 "inconsistent"))  # fmt: skip
    return found


def legal_status(person: PersonIn) -> str | None:
    """What Law 53/2024 Art. 37 and Decree 09/2013 Art. 23 turn on: a Vietnamese citizen, a
    stateless person residing in Viet Nam, or a foreigner (in Vietnamese law a stateless person
    not residing here is one); None when the nationality is not recorded."""
    if person.stateless:
        return "stateless_resident" if person.residence is not None else "foreign"
    if person.nationality is None:
        return None
    return "vietnamese" if person.nationality == "VN" else "foreign"


def problems(report: ReportIn) -> list[Problem]:
    """Every rule across fields the report breaks; empty when it may be accepted."""
    found = place(report.area, "area")[1]
    found += _person_problems(report.person, "person", report.received_at, minor=False)
    for index, minor in enumerate(report.accompanying_minors):
        field = f"accompanying_minors.{index}"
        found += _person_problems(minor, field, report.received_at, minor=True)
    trafficking = report.trafficking
    if trafficking.left_on and trafficking.left_on > report.received_at:
        found.append(Problem("trafficking.left_on", "is after received_at", "date_order"))
    if trafficking.returned_on:
        if trafficking.returned_on > report.received_at:
            found.append(Problem("trafficking.returned_on", "is after received_at", "date_order"))
        if trafficking.left_on and trafficking.returned_on < trafficking.left_on:
            found.append(Problem("trafficking.returned_on", "is before left_on", "date_order"))
    if trafficking.scope is Scope.DOMESTIC and trafficking.destination_country not in (None, "VN"):
        found.append(Problem("trafficking.destination_country", "domestic but abroad", "scope"))
    return found


def age_at(person: PersonIn | MinorIn, day: date) -> int | None:
    if person.birth_date is not None:
        return age_on(person.birth_date, day)
    return person.age


def normalise_name(name: str) -> str:
    """Lower case, no diacritics, đ → d, single spaces: how names are compared."""
    decomposed = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(stripped.lower().split())


def sensitive(report: ReportIn) -> dict[str, Any]:
    """The personal data of a report: what goes into the vault, and nowhere else."""
    person = report.person
    return {
        "full_name": person.full_name,
        "id_number": person.id_number,
        "phone": person.phone,
        "residence": person.residence.model_dump() if person.residence else None,
        "legacy_address": report.area.legacy_address,
        "legacy_ward_code": report.area.legacy_ward_code,
        "note": report.note,
        "consent_recorded_by": report.consent.recorded_by,
        "accompanying_minors": [
            {"full_name": minor.full_name} for minor in report.accompanying_minors
        ],
    }


def activity_problems(activity: ActivityIn) -> list[Problem]:
    return place(activity.area, "area")[1]


def outside_area(where: Place, scope: Area, field: str = "area") -> Problem | None:
    """Writes are scoped like reads: a place outside the submitter's area is refused."""
    if scope.covers(where.province, where.ward):
        return None
    part = "province" if scope.province != where.province else "ward"
    return Problem(f"{field}.{part}", "is outside the submitter's area", "out_of_area")


SAME_PERSON_SCORE = 85.0
"""Name similarity (0-100) from which two reports with the same birth date and province are
flagged as one person for review; an equal ID number links them without review."""


def name_similarity(first: str, second: str) -> float:
    """How alike two names are, ignoring case, diacritics, spacing and word order."""
    return float(fuzz.token_sort_ratio(normalise_name(first), normalise_name(second)))
