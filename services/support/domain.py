"""Support's rules. Pure: what a person is entitled to under the legal tables, whether a grant,
a disbursement, a referral step or a closure may be made. Money is integer VND throughout."""

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from services.support.policies import (
    REGIME_CHANGE,
    CapUnit,
    Condition,
    Group,
    Kind,
    Regime,
    Rule,
    Unit,
)

PERSON = "person"
ADULT_AGE = 18
WINDOW_MONTHS = 12  # Decree 09/2013 Art. 23: apply within 12 months of certification


@dataclass(frozen=True, slots=True)
class Granted:
    """What a beneficiary already holds of one kind: pending and approved grants."""

    quantity: int
    first_on: date


@dataclass(frozen=True, slots=True)
class Facts:
    """What support knows of a case: coded facts from the case events and its own records."""

    status: str  # received | being_identified | identified | not_identified | merged
    received_on: date
    province: str
    identified_on: date | None = None
    legacy_province: str | None = None  # the pre-2025 province, from the commune code
    age: int | None = None
    accompanying_minors: int = 0
    poor_household: bool | None = None
    consent_services: bool | None = True
    refused_kinds: frozenset[str] = frozenset()  # "all", or kinds the person declined
    closed: bool = False
    retrafficking_risk: bool = False
    granted: Mapping[tuple[str, Kind], Granted] = field(default_factory=dict)

    @property
    def child(self) -> bool:
        return self.age is not None and self.age < ADULT_AGE


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the law refuses: ``rule`` is a stable code, ``field`` the request field concerned."""

    rule: str
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class Assessment:
    """A kind of support for one beneficiary: the rule in force, the room left under its cap,
    and any reason the beneficiary may not receive it at all."""

    kind: Kind
    beneficiary: str
    regime: Regime
    rule: Rule | None
    cap: int | None  # in the rule's unit (days, school years, or 1 for once)
    remaining: int | None
    refusals: tuple[Refusal, ...]

    @property
    def eligible(self) -> bool:
        return not self.refusals


@dataclass(frozen=True, slots=True)
class GrantRequest:
    kind: Kind
    quantity: int
    granted_on: date
    beneficiary: str = PERSON
    amount: int | None = None  # the actual cost, or an explicit amount where the rate is unknown
    basis: str | None = None  # the legal basis of an explicit amount
    receipt: str | None = None


@dataclass(frozen=True, slots=True)
class GrantDecision:
    assessment: Assessment
    quantity: int
    amount: int
    rate: int | None
    legal_basis: str
    refusals: tuple[Refusal, ...]

    @property
    def eligible(self) -> bool:
        return not self.refusals


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day if shorter); ``date.max`` at most."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    if year > date.max.year:
        return date.max
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def regime_of(facts: Facts) -> Regime:
    """Identified before 2025-07-01: the old regime for good. A person still being identified is
    placed by the reception date."""
    decisive = facts.identified_on if facts.status == "identified" else None
    day = decisive or facts.received_on
    return Regime.LAW_66_2011 if day < REGIME_CHANGE else Regime.LAW_53_2024


def beneficiaries(facts: Facts) -> list[str]:
    return [PERSON, *(f"minor-{n}" for n in range(1, facts.accompanying_minors + 1))]


PERSON_GROUPS = {
    "identified": Group.VICTIM,
    "received": Group.BEING_IDENTIFIED,
    "being_identified": Group.BEING_IDENTIFIED,
}


def group_of(facts: Facts, beneficiary: str) -> Group | None:
    """The person's group by status; a minor accompanies a victim or a person being identified,
    so support ends for both when the person is found not to be a victim."""
    group = PERSON_GROUPS.get(facts.status)
    if beneficiary == PERSON or group is None:
        return group
    return Group.ACCOMPANYING_MINOR if beneficiary in beneficiaries(facts) else None


class Unplaceable(LookupError):
    """A province document may apply, but the case has no commune to tell which former
    province it lies in."""


def rule_for(
    rules: Iterable[Rule], kind: Kind, regime: Regime, facts: Facts, day: date
) -> Rule | None:
    """The rule in force: the person's province over national, then the most recent."""
    candidates, unplaced = [], False
    for rule in rules:
        if rule.kind != kind or rule.regime != regime or not rule.in_force(day):
            continue
        if rule.province is not None and rule.province != facts.province:
            continue
        if rule.legacy_province is not None and rule.legacy_province != facts.legacy_province:
            unplaced = unplaced or facts.legacy_province is None
            continue
        candidates.append(rule)
    best = max(candidates, key=lambda r: (r.province is not None, r.effective_from), default=None)
    if unplaced and (best is None or best.province is None):
        raise Unplaceable(kind)
    return best


def national_minimum(rules: Iterable[Rule], kind: Kind, regime: Regime, day: date) -> int | None:
    floors = [r.minimum for r in rules if r.kind == kind and r.regime == regime
              and r.province is None and r.minimum and r.in_force(day)]  # fmt: skip
    return max(floors, default=None)


def cap_of(rule: Rule, first_on: date) -> int | None:
    """The most a beneficiary may receive under the rule, in the rule's unit."""
    if rule.unit is Unit.ONCE or Condition.FIRST_SCHOOL_YEAR in rule.conditions:
        return 1
    if rule.cap is None:
        return None
    if rule.cap_unit is CapUnit.MONTHS:  # "at most 3 months" from the first day of support
        return (add_months(first_on, rule.cap) - first_on).days
    return rule.cap


def assess(
    rules: Iterable[Rule], facts: Facts, kind: Kind, beneficiary: str, day: date
) -> Assessment:
    """May this beneficiary receive this kind of support on ``day``, and how much is left?"""
    rules = tuple(rules)
    regime = regime_of(facts)
    refusals = case_refusals(facts, kind)
    group = group_of(facts, beneficiary)
    try:
        rule = rule_for(rules, kind, regime, facts, day)
    except Unplaceable:
        rule = None
        refusals.append(Refusal("area.undetermined", "kind", "the province's rates depend on the "
                                "former province: the case needs its commune code"))  # fmt: skip
    if rule is None and not refusals:
        refusals.append(Refusal("policy.none", "kind",
                                f"no {regime} rule for {kind} is in force on {day}"))  # fmt: skip
    if group is None and (
        facts.status == "not_identified" or beneficiary not in beneficiaries(facts)
    ):
        refusals.append(_no_group(facts, beneficiary))
    elif rule is not None and group not in rule.groups:
        allowed = ", ".join(sorted(rule.groups))
        refusals.append(Refusal(f"group.{group}", "kind",
                                f"{kind} is for {allowed} ({rule.legal_basis})"))  # fmt: skip
    if rule is not None and group in rule.groups:  # conditions matter only to those entitled
        refusals.extend(_condition_refusals(rule, facts, day))
    held = facts.granted.get((beneficiary, kind))
    cap = cap_of(rule, held.first_on if held else day) if rule else None
    remaining = None if cap is None else max(cap - (held.quantity if held else 0), 0)
    if remaining == 0 and rule is not None:
        refusals.append(
            Refusal(
                "cap.exhausted",
                "quantity",
                f"the cap of {cap} {_cap_unit(rule)} is used up ({rule.legal_basis})",
            )
        )
    return Assessment(kind, beneficiary, regime, rule, cap, remaining, tuple(refusals))


def case_refusals(facts: Facts, kind: Kind | None = None) -> list[Refusal]:
    """What stops any support: a merged or closed case, no consent, support declined."""
    if facts.status == "merged":
        return [Refusal("case.merged", "case_id", "the case was merged into another")]
    if facts.closed:
        return [Refusal("case.closed", "case_id", "the case is closed: reopen it first")]
    if facts.consent_services is False:
        return [Refusal("consent.services", "kind", "the person did not consent to support")]
    if kind is not None and ("all" in facts.refused_kinds or kind in facts.refused_kinds):
        return [Refusal("consent.refused", "kind", f"the person declined {kind}")]
    return []


def _no_group(facts: Facts, beneficiary: str) -> Refusal:
    if beneficiary not in beneficiaries(facts):
        return Refusal(
            "beneficiary.unknown",
            "beneficiary",
            f"the case has {facts.accompanying_minors} accompanying minor(s)",
        )
    return Refusal("group.not_identified", "kind",
                   "the person was not identified as a victim: support has ended")  # fmt: skip


def _condition_refusals(rule: Rule, facts: Facts, day: date) -> list[Refusal]:
    found = []
    if Condition.POOR_HOUSEHOLD in rule.conditions and facts.poor_household is not True:
        found.append(Refusal("condition.poor_household", "kind",
                             f"only for a poor household, not recorded for this person "
                             f"({rule.legal_basis})"))  # fmt: skip
    if Condition.WITHIN_12_MONTHS in rule.conditions and (
        facts.identified_on is None or day > add_months(facts.identified_on, WINDOW_MONTHS)
    ):
        found.append(Refusal("condition.within_12_months", "granted_at",
                             f"must be applied for within {WINDOW_MONTHS} months of "
                             f"identification ({rule.legal_basis})"))  # fmt: skip
    return found


def _cap_unit(rule: Rule) -> str:
    if rule.unit is Unit.PER_DAY:
        return "days"
    return "school years" if rule.unit is Unit.PER_SCHOOL_YEAR else "time(s)"


def decide_grant(
    rules: Iterable[Rule], facts: Facts, request: GrantRequest, today: date
) -> GrantDecision:
    """The grant the law allows for the request, or every reason it refuses (only the case's
    state when that alone forbids any support: a closed case, no consent)."""
    rules = tuple(rules)
    assessment = assess(rules, facts, request.kind, request.beneficiary, request.granted_on)
    blocking = case_refusals(facts, request.kind)
    if blocking:
        return GrantDecision(assessment, request.quantity, 0, None, "", tuple(blocking))
    refusals = list(assessment.refusals)
    if request.granted_on < facts.received_on:
        refusals.append(Refusal("granted_at.before_reception", "granted_at",
                                "is before the case was received"))  # fmt: skip
    if request.granted_on > today:
        refusals.append(Refusal("granted_at.future", "granted_at", "is in the future"))
    if request.quantity < 1:
        refusals.append(Refusal("quantity.positive", "quantity", "must be at least 1"))
    if request.amount is not None and request.amount < 1:
        refusals.append(Refusal("amount.positive", "amount", "must be at least 1 VND"))
    rule = assessment.rule
    if rule is None or any(r.rule.endswith(".positive") for r in refusals):
        return GrantDecision(assessment, request.quantity, 0, None, "", tuple(refusals))
    refusals.extend(_quantity_refusals(rule, assessment, request.quantity))
    amount, rate, basis, money = _amount(rules, rule, assessment.regime, request)
    refusals.extend(money)
    return GrantDecision(assessment, request.quantity, amount, rate, basis, tuple(refusals))


def _quantity_refusals(rule: Rule, assessment: Assessment, quantity: int) -> list[Refusal]:
    if rule.unit in (Unit.ONCE, Unit.ACTUAL_COST) and quantity != 1:
        return [Refusal(f"quantity.{rule.unit}", "quantity", f"{rule.kind} is granted as one item")]
    remaining = assessment.remaining
    if remaining and quantity > remaining:
        return [
            Refusal(
                "cap.exceeded",
                "quantity",
                f"at most {remaining} {_cap_unit(rule)} "
                f"left under the cap of {assessment.cap} ({rule.legal_basis})",
            )
        ]
    return []


def _amount(
    rules: Iterable[Rule], rule: Rule, regime: Regime, request: GrantRequest
) -> tuple[int, int | None, str, list[Refusal]]:
    """Amount, rate, legal basis and refusals: the rate times the quantity where the law sets
    it, the receipt's amount for actual costs, an explicit amount and basis where it is unknown."""
    if rule.unit is Unit.ACTUAL_COST:
        found = []
        if request.amount is None:
            found.append(Refusal("amount.required", "amount", "actual costs need the amount"))
        if not request.receipt:
            found.append(Refusal("receipt.required", "receipt_ref",
                                 "actual costs need the receipt's reference"))  # fmt: skip
        return request.amount or 0, None, rule.legal_basis, found
    if rule.amount is not None:
        if request.amount is not None and request.amount != rule.amount * request.quantity:
            message = f"the rate is {rule.amount} VND per unit ({rule.legal_basis}): leave it out"
            return (
                0,
                rule.amount,
                rule.legal_basis,
                [Refusal("amount.set_by_law", "amount", message)],
            )
        return rule.amount * request.quantity, rule.amount, rule.legal_basis, []
    if request.amount is None or not request.basis:
        message = (f"the {rule.kind} amount of {rule.legal_basis} is not known here: "
                   "give the amount and its legal basis")  # fmt: skip
        return 0, None, rule.legal_basis, [Refusal("amount.unknown", "amount", message)]
    floor = national_minimum(rules, rule.kind, regime, request.granted_on)
    if floor and request.amount < floor * request.quantity:
        message = f"below the national minimum of {floor} VND per unit"
        return (
            request.amount,
            None,
            request.basis,
            [Refusal("amount.below_minimum", "amount", message)],
        )
    return request.amount, None, request.basis, []


def entitlements(rules: Iterable[Rule], facts: Facts, day: date) -> list[Assessment]:
    """Every kind of support for every beneficiary of the case, as of ``day``."""
    rules = tuple(rules)
    return [assess(rules, facts, kind, who, day) for who in beneficiaries(facts) for kind in Kind]


class ReferralService(StrEnum):
    SHELTER = "shelter"
    HEALTH_CENTRE = "health_centre"
    PSYCHOLOGICAL_COUNSELLING = "psychological_counselling"
    LEGAL_AID = "legal_aid"
    EDUCATION = "education"
    VOCATIONAL_TRAINING = "vocational_training"
    SOCIAL_POLICY_BANK_LOAN = "social_policy_bank_loan"
    CHILD_PROTECTION = "child_protection"
    FAMILY_REUNIFICATION = "family_reunification"


class ReferralStep(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    COMPLETE = "complete"


REFERRAL_STEPS: dict[ReferralStep, tuple[str, str]] = {
    ReferralStep.ACCEPT: ("requested", "accepted"),
    ReferralStep.REJECT: ("requested", "rejected"),
    ReferralStep.COMPLETE: ("accepted", "done"),
}


def required_referrals(facts: Facts) -> list[ReferralService]:
    """A child, and any child who came with the person, goes to child-protection services."""
    return [ReferralService.CHILD_PROTECTION] if facts.child or facts.accompanying_minors else []


def referral_refusals(facts: Facts, service: ReferralService) -> list[Refusal]:
    found = case_refusals(facts)
    if service in required_referrals(facts):  # the duty to a child does not wait for consent
        found = [r for r in found if not r.rule.startswith("consent.")]
    return found


class Refused(ValueError):
    """An action the rules refuse; carries every reason."""

    def __init__(self, *refusals: Refusal) -> None:
        super().__init__("; ".join(f"{r.field}: {r.message}" for r in refusals))
        self.refusals = refusals


class ClosureReason(StrEnum):
    REINTEGRATED = "reintegrated"
    MOVED_AWAY = "moved_away"
    DECEASED = "deceased"
    SUPPORT_DECLINED = "support_declined"
    NOT_IDENTIFIED = "not_identified"
    OTHER = "other"


def check_closure(
    facts: Facts,
    reason: "ClosureReason",
    referrals: Mapping[str, str],
    closed_on: date,
    today: date,
) -> None:
    """``referrals``: each referral's service → its state."""
    if facts.closed:
        raise Refused(Refusal("case.closed", "case_id", "the case is already closed"))
    if reason is ClosureReason.REINTEGRATED and facts.retrafficking_risk:
        raise Refused(
            Refusal(
                "risk.raised",
                "reason",
                "a person at risk of re-trafficking is "
                "not closed as reintegrated: record a visit that clears it",
            )
        )
    if not facts.received_on <= closed_on <= today:
        raise Refused(Refusal("closed_on.range", "closed_on",
                              "must be between the reception and today"))  # fmt: skip
    missing = [s for s in required_referrals(facts)
               if referrals.get(s) not in ("requested", "accepted", "done")]  # fmt: skip
    if missing:
        raise Refused(Refusal("referral.child_protection", "reason", "a child must be referred "
                              "to child-protection services before the case closes"))  # fmt: skip


def check_disbursement(
    granted: int, disbursed: int, amount: int, budget: int | None, spent: int
) -> None:
    """Never above the grant in total, never above the budget's remaining balance."""
    found = []
    if disbursed + amount > granted:
        found.append(
            Refusal(
                "disbursement.above_grant",
                "amount",
                f"only {granted - disbursed} VND of the grant is left to pay",
            )
        )
    if budget is None:
        found.append(Refusal("budget.missing", "funding_source",
                             "no budget for this province, year and funding source"))  # fmt: skip
    elif spent + amount > budget:
        found.append(Refusal("budget.exceeded", "amount",
                             f"only {budget - spent} VND of the budget is left"))  # fmt: skip
    if found:
        raise Refused(*found)
