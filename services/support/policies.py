"""The legal support tables, as data: one TOML file per legal document (see
``policies/README.md``). Loading checks every row, so a bad file stops the service at start."""

import tomllib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

POLICY_DIR = Path(__file__).with_name("policies")
REGIME_CHANGE = date(2025, 7, 1)  # Law 53/2024/QH15 in force


class Regime(StrEnum):
    LAW_66_2011 = "law-66-2011"
    LAW_53_2024 = "law-53-2024"


class Kind(StrEnum):
    SHELTER_MEALS = "shelter_meals"
    ROAD_MEALS = "road_meals"
    TRAVEL_FARE = "travel_fare"
    CLOTHING = "clothing"
    MEDICINE = "medicine"
    MEDICAL_CARE = "medical_care"
    PSYCHOLOGICAL_COUNSELLING = "psychological_counselling"
    LEGAL_AID = "legal_aid"
    EDUCATION = "education"
    VOCATIONAL_TRAINING = "vocational_training"
    HARDSHIP_ALLOWANCE = "hardship_allowance"
    HEALTH_INSURANCE = "health_insurance"


class Unit(StrEnum):
    PER_DAY = "per_day"
    ONCE = "once"
    PER_SCHOOL_YEAR = "per_school_year"
    ACTUAL_COST = "actual_cost"


class Group(StrEnum):
    """Who a rule is for. Without a qualifier: a Vietnamese citizen or a stateless person residing
    in Viet Nam (and a minor accompanying one), in Viet Nam; Law 53/2024 Art. 37 lists the kinds
    each group receives."""

    VICTIM = "victim"
    BEING_IDENTIFIED = "being_identified"
    ACCOMPANYING_MINOR = "accompanying_minor"
    BEING_IDENTIFIED_ABROAD = "being_identified_abroad"  # Law 53/2024 Art. 37(3)
    ACCOMPANYING_MINOR_ABROAD = "accompanying_minor_abroad"
    FOREIGN_VICTIM = "foreign_victim"  # Law 53/2024 Art. 37(4): trafficked in Viet Nam
    FOREIGN_BEING_IDENTIFIED = "foreign_being_identified"
    FOREIGN_ACCOMPANYING_MINOR = "foreign_accompanying_minor"


class Condition(StrEnum):
    """What must also hold. Facts support knows (household, dates, age) or circumstances the
    officer declares on the grant (see ``DECLARED``)."""

    POOR_HOUSEHOLD = "poor_household"
    WITHIN_12_MONTHS = "within_12_months"
    FIRST_SCHOOL_YEAR = "first_school_year"  # a cap of one school year
    UNDER_18 = "under_18"
    ONCE = "once"  # granted once, whatever its unit
    FIRST_YEAR = "first_year"  # within a year of the identification
    ACCOMPANIES_VICTIM = "accompanies_victim"  # a minor, once the person is identified
    FINANCIAL_DIFFICULTY = "financial_difficulty"
    UNABLE_TO_PAY = "unable_to_pay"
    UNINSURED = "uninsured"
    IN_FACILITY = "in_facility"


# Conditions the officer declares on the grant request: the field, and the value that meets it.
DECLARED: dict[Condition, tuple[str, bool]] = {
    Condition.FINANCIAL_DIFFICULTY: ("financial_difficulty", True),
    Condition.UNABLE_TO_PAY: ("unable_to_pay", True),
    Condition.UNINSURED: ("insured", False),
    Condition.IN_FACILITY: ("in_facility", True),
}


class CapUnit(StrEnum):
    DAYS = "days"
    MONTHS = "months"
    SCHOOL_YEARS = "school_years"


Vnd = Annotated[StrictInt, Field(gt=0)]  # integer VND: 60000, never 60000.0 or "60000"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RuleRow(_Strict):
    kind: Kind
    unit: Unit
    amount: Vnd | Literal["unknown"] | None = None
    minimum: Vnd | None = None
    cap: Annotated[StrictInt, Field(gt=0)] | None = None
    cap_unit: CapUnit | None = None
    groups: list[Group] = Field(min_length=1)
    conditions: list[Condition] = Field(default_factory=list)
    article: str = Field(min_length=1)  # "unknown" where the sources at hand do not say
    groups_basis: str | None = Field(default=None, min_length=3)  # who receives it, if elsewhere
    effective_from: date | None = None
    effective_to: date | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "_RuleRow":
        if (self.unit is Unit.ACTUAL_COST) != (self.amount is None):
            raise ValueError("actual_cost rules have no amount; every other rule has one")
        if (self.cap is None) != (self.cap_unit is None):
            raise ValueError("cap and cap_unit go together")
        return self


class _Document(_Strict):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str
    regime: Regime
    area: Literal["national", "province"]
    province: str | None = Field(default=None, pattern=r"^[0-9]{2}$")
    legacy_province: str | None = Field(default=None, pattern=r"^[0-9]{2}$")
    effective_from: date | Literal["unknown"]
    effective_to: date | None = None
    adopted: date | None = None  # adopted or signed
    applied_from: date | None = None  # where the start is unknown: the day the platform uses
    unsettled: str | None = Field(default=None, min_length=10)  # what would settle the start
    groups_basis: str | None = Field(default=None, min_length=3)  # the article on who receives

    @model_validator(mode="after")
    def _placed(self) -> "_Document":
        if (self.area == "province") != (self.province is not None):
            raise ValueError("a province document names its province; a national one none")
        if self.effective_from == "unknown":
            if self.adopted is None or self.unsettled is None:
                raise ValueError("an unknown start needs its adoption and what would settle it")
            if self.applied_from is not None and self.applied_from < self.adopted:
                raise ValueError("a document is never applied before its adoption")
        elif self.applied_from is not None or self.unsettled is not None:
            raise ValueError("applied_from and unsettled are for an unknown effective_from")
        elif self.adopted is not None and self.effective_from < self.adopted:
            raise ValueError("a document does not take effect before its adoption")
        return self

    @property
    def start(self) -> date:
        """The first day its rules are applied: the day in force, or if unknown the day chosen
        (never before adoption)."""
        if isinstance(self.effective_from, date):
            return self.effective_from
        assert self.adopted is not None
        return self.applied_from or self.adopted


class _File(_Strict):
    document: _Document
    rule: list[_RuleRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _not_before_the_document(self) -> "_File":
        for row in self.rule:
            if row.effective_from is not None and row.effective_from < self.document.start:
                raise ValueError(f"{row.kind} starts before its document")
        return self


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of a legal table: who may receive a kind of support, how much, how often."""

    id: str
    document: str
    regime: Regime
    province: str | None
    legacy_province: str | None
    kind: Kind
    unit: Unit
    amount: int | None  # VND per unit; None: actual cost or unknown
    amount_known: bool
    minimum: int | None
    cap: int | None
    cap_unit: CapUnit | None
    groups: frozenset[Group]
    conditions: frozenset[Condition]
    effective_from: date
    effective_to: date | None
    legal_basis: str
    start_known: bool = True
    start_note: str | None = None  # where the start is unknown: the day applied and why
    groups_basis: str = ""  # the provision saying who receives the kind; else legal_basis

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )


class PolicyError(ValueError):
    """A policy file that cannot be trusted."""


def load_rules(folder: Path = POLICY_DIR) -> list[Rule]:
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise PolicyError(f"no policy files in {folder.name}")
    rules: list[Rule] = []
    for path in files:
        try:
            parsed = _File.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, ValueError) as error:
            raise PolicyError(f"{path.name}: {error}") from error
        rules.extend(_rules_of(parsed))
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise PolicyError("a document id or a kind repeats within a document")
    return rules


def _rules_of(parsed: _File) -> list[Rule]:
    doc = parsed.document
    return [
        Rule(
            id=f"{doc.id}/{row.kind}",
            document=doc.id,
            regime=doc.regime,
            province=doc.province,
            legacy_province=doc.legacy_province,
            kind=row.kind,
            unit=row.unit,
            amount=row.amount if isinstance(row.amount, int) else None,
            amount_known=row.amount != "unknown",
            minimum=row.minimum,
            cap=row.cap,
            cap_unit=row.cap_unit,
            groups=frozenset(row.groups),
            conditions=frozenset(row.conditions),
            effective_from=row.effective_from or doc.start,
            effective_to=row.effective_to or doc.effective_to,
            legal_basis=doc.title if row.article == "unknown" else f"{doc.title}, {row.article}",
            groups_basis=row.groups_basis or doc.groups_basis or "",
            start_known=doc.effective_from != "unknown",
            start_note=None
            if doc.effective_from != "unknown"
            else (
                f"start unknown; applied from {doc.start} (adopted {doc.adopted}): {doc.unsettled}"
            ),
        )
        for row in parsed.rule
    ]


def describe(rule: Rule) -> dict[str, Any]:
    """A rule as the API shows it."""
    return {
        "rule": rule.id, "regime": rule.regime, "unit": rule.unit, "rate": rule.amount,
        "amount_known": rule.amount_known, "minimum": rule.minimum,
        "cap": {"value": rule.cap, "unit": rule.cap_unit} if rule.cap else None,
        "legal_basis": rule.legal_basis, "start_known": rule.start_known,
        "start_note": rule.start_note,
    }  # fmt: skip
