"""What intake accepts: the report and activity models, their field types and the checks a
field can make alone. The rules across fields are in ``domain``."""

from datetime import date
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

from services.intake.reports.catalogues import (
    LABELS,
    ActivityKind,
    Channel,
    Purpose,
    ReceptionForm,
    Scope,
    Sex,
    countries,
    provinces,
)
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
        if self.province is not None and self.province not in provinces():
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
    stateless: StrictBool = Field(
        default=False,
        description="No nationality (give nationality null); with a residence in Viet Nam, a "
        "stateless person residing in Viet Nam (Law 53/2024 Art. 37)",
    )
    abroad: StrictBool = Field(
        default=False,
        description="Still abroad when reported, e.g. through a representative mission: being "
        "identified abroad (Law 53/2024 Art. 37(3))",
    )


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
