"""Reports and cases: what a valid report is, what it becomes, what it publishes. Pure.

A report's shape is checked by its model; ``problems`` adds the rules that span fields or
need code lists (dates against each other, codes, areas), naming every offending field.
"""

import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from rapidfuzz import fuzz
from vietnam_provinces import Province, ProvinceCode, Ward, WardCode

from services.intake.reports.catalogues import (
    LABELS,
    ActivityKind,
    Channel,
    Purpose,
    ReceptionForm,
    Scope,
    Sex,
    countries,
)
from shared.access import Area
from shared.events.base import business_today

ADULT_AGE = 18
MAX_AGE = 120


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise PydanticCustomError("nul_character", "must not contain NUL characters")
        return value


def _known_country(code: str) -> str:
    if code not in countries():
        raise PydanticCustomError("unknown_code", "not an ISO 3166-1 alpha-2 country code")
    return code


def _known_ethnicity(code: str) -> str:
    if code not in LABELS["ethnic_groups"]:
        raise PydanticCustomError("unknown_code", "not a GSO ethnic group code (01-54)")
    return code


def _not_future(day: date) -> date:
    if day > today():
        raise PydanticCustomError("future_date", "is in the future")
    return day


def today() -> date:
    """Reports are dated in Viet Nam's time zone."""
    return business_today()


Code2 = Annotated[StrictStr, Field(pattern=r"^[0-9]{2}$")]
Code5 = Annotated[StrictStr, Field(pattern=r"^[0-9]{5}$")]
Country = Annotated[
    StrictStr, Field(pattern=r"^[A-Z]{2}$", examples=["CN"]), AfterValidator(_known_country)
]
Ethnicity = Annotated[
    StrictStr,
    Field(pattern=r"^[0-9]{2}$", description="GSO code; 01 = Kinh", examples=["01"]),
    AfterValidator(_known_ethnicity),
]
PastDate = Annotated[date, AfterValidator(_not_future)]


class AreaIn(Strict):
    """A place by its 2025 codes, or by a pre-2025 address that is converted."""

    province: Code2 | None = Field(default=None, examples=["11"])
    ward: Code5 | None = Field(default=None, examples=["03325"])
    legacy_address: StrictStr | None = Field(
        default=None,
        max_length=300,
        examples=["Xã Mường Phăng, Huyện Điện Biên, Tỉnh Điện Biên"],
        description="A pre-2025 commune, district, province; converted, the original kept",
    )
    legacy_ward_code: Code5 | None = Field(
        default=None,
        examples=["03325"],
        description="A pre-2025 commune code (GSO); converted, the original kept",
    )

    @model_validator(mode="after")
    def _names_a_place(self) -> "AreaIn":
        if self.province is not None and self.province not in _provinces():
            raise PydanticCustomError("unknown_code", "province is not a 2025 province code")
        if self.province is None and self.legacy_address is None and not self.legacy_ward_code:
            raise PydanticCustomError("missing", "give a province code or a legacy address")
        return self


class PersonIn(Strict):
    full_name: StrictStr | None = Field(default=None, max_length=200)
    sex: Sex
    birth_date: date | None = None
    age: StrictInt | None = Field(default=None, ge=0, le=MAX_AGE)
    ethnicity: Ethnicity | None = None
    nationality: Country | None = "VN"
    id_number: StrictStr | None = Field(default=None, max_length=20, pattern=r"^[0-9A-Za-z]+$")
    phone: StrictStr | None = Field(default=None, max_length=20, pattern=r"^\+?[0-9 ]{6,20}$")
    residence: AreaIn | None = None


class MinorIn(Strict):
    full_name: StrictStr | None = Field(default=None, max_length=200)
    sex: Sex
    birth_date: date | None = None
    age: StrictInt | None = Field(default=None, ge=0, lt=ADULT_AGE)


class TraffickingIn(Strict):
    scope: Scope = Scope.UNKNOWN
    destination_country: Country | None = None
    purposes: list[Purpose] = Field(default_factory=list, max_length=len(Purpose))
    left_on: date | None = None
    returned_on: date | None = None


class ConsentIn(Strict):
    services: StrictBool
    information_sharing: StrictBool
    statistics: StrictBool
    recorded_by: StrictStr = Field(min_length=1, max_length=200)
    recorded_at: PastDate


REPORT_EXAMPLE: dict[str, JsonValue] = {
    "source_ref": "UBND-MP-2026-007",
    "channel": "commune",
    "received_at": "2026-11-20",
    "area": {"province": "11", "ward": "03325"},
    "reception_form": "self_returned",
    "person": {"full_name": "Lò Thị Mai", "sex": "female", "birth_date": "2007-03-14",
               "ethnicity": "03", "nationality": "VN", "id_number": "011307001234",
               "phone": "0912345678"},
    "trafficking": {"scope": "abroad", "destination_country": "CN",
                    "purposes": ["forced_marriage"]},
    "accompanying_minors": [{"sex": "male", "age": 2}],
    "consent": {"services": True, "information_sharing": True, "statistics": True,
                "recorded_by": "Cán bộ xã Mường Phăng", "recorded_at": "2026-11-20"},
}  # fmt: skip


class ReportIn(Strict):
    """A report of a tip, a returning or rescued person, a handover or a suspected case."""

    model_config = ConfigDict(json_schema_extra={"examples": [REPORT_EXAMPLE]})

    source_ref: StrictStr = Field(min_length=1, max_length=100, examples=["111-2026-000123"])
    channel: Channel
    received_at: PastDate
    area: AreaIn
    reception_form: ReceptionForm
    person: PersonIn
    trafficking: TraffickingIn = Field(default_factory=TraffickingIn)
    accompanying_minors: list[MinorIn] = Field(default_factory=list, max_length=20)
    consent: ConsentIn
    note: StrictStr | None = Field(default=None, max_length=2000)


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str
    code: str


@dataclass(frozen=True, slots=True)
class Place:
    province: str
    ward: str | None


@cache
def _wards() -> dict[str, str]:
    return {f"{w.code.value:05d}": f"{w.province_code.value:02d}" for w in Ward.iter_all()}


@cache
def _provinces() -> set[str]:
    return {f"{p.code.value:02d}" for p in Province.iter_all()}


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
    if province not in _provinces() or (ward is not None and _wards().get(ward) != province):
        return None
    return Place(province, ward)


def place(area: AreaIn, field: str) -> tuple[Place | None, list[Problem]]:
    """The 2025 province and commune an area names, or the problems with it."""
    if area.legacy_address is not None or area.legacy_ward_code is not None:
        return _legacy_place(area, field)
    problem: Problem | None = None
    if area.province is None:
        problem = Problem(f"{field}.province", "a province code is required", "missing")
    elif area.province not in _provinces():
        problem = Problem(f"{field}.province", "not a 2025 province code", "unknown_code")
    elif area.ward is not None and _wards().get(area.ward) != area.province:
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
    return found


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


class ActivityIn(Strict):
    """Outreach and training reported outside any case."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"kind": "communication_session", "date": "2026-11-01",
                 "area": {"province": "11", "ward": "03325"}, "sessions": 2,
                 "participants": 140, "leaflets": 300}
            ]
        }
    )  # fmt: skip

    kind: ActivityKind
    date: PastDate
    area: AreaIn
    sessions: StrictInt = Field(default=0, ge=0, le=100_000)
    participants: StrictInt = Field(default=0, ge=0, le=10_000_000)
    panels: StrictInt = Field(default=0, ge=0, le=1_000_000)
    posters: StrictInt = Field(default=0, ge=0, le=1_000_000)
    leaflets: StrictInt = Field(default=0, ge=0, le=10_000_000)
    note: StrictStr | None = Field(default=None, max_length=2000)


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
