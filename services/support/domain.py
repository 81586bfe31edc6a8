"""Support's rules. Pure: what a person is entitled to under the legal tables, whether a grant,
a disbursement, a referral step or a closure may be made. Money is integer VND throughout."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from services.support.eligibility import (
    condition_refusals,
    group_of,
    group_refusal,
    legal_status_refusal,
    regime_of,
)
from services.support.facts import (
    PERSON,
    Facts,
    Granted,
    Refusal,
    add_months,
    beneficiaries,
)
from services.support.policies import CapUnit, Condition, Kind, Regime, Rule, Unit

__all__ = ["PERSON", "Facts", "Granted", "Refusal", "add_months", "beneficiaries", "group_of",
           "regime_of"]  # fmt: skip


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
    requires: tuple[Refusal, ...] = ()  # circumstances a grant must declare

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
    declared: Mapping[str, bool] = field(default_factory=dict)  # see policies.DECLARED


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
    if rule.unit is Unit.ONCE or rule.conditions & {Condition.ONCE, Condition.FIRST_SCHOOL_YEAR}:
        return 1
    if rule.cap is None:
        return None
    if rule.cap_unit is CapUnit.MONTHS:  # "at most 3 months" from the first day of support
        return (add_months(first_on, rule.cap) - first_on).days
    return rule.cap


def assess(
    rules: Iterable[Rule],
    facts: Facts,
    kind: Kind,
    beneficiary: str,
    day: date,
    *,
    declared: Mapping[str, bool] | None = None,
) -> Assessment:
    """May this beneficiary receive this kind of support on ``day``, and how much is left?
    ``declared``: the circumstances a grant declares; None lists those a grant would need."""
    rules = tuple(rules)
    regime = regime_of(facts)
    refusals = case_refusals(facts, kind)
    group = group_of(facts, beneficiary, regime)
    requires: list[Refusal] = []
    try:
        rule = rule_for(rules, kind, regime, facts, day)
    except Unplaceable:
        rule = None
        refusals.append(Refusal("area.undetermined", "kind", "the province's rates depend on the "
                                "former province: the case needs its commune code"))  # fmt: skip
    if rule is None and not refusals:
        refusals.append(Refusal("policy.none", "kind",
                                f"no {regime} rule for {kind} is in force on {day}"))  # fmt: skip
    if group is None:
        if facts.status == "not_identified" or beneficiary not in beneficiaries(facts):
            refusals.append(_no_group(facts, beneficiary))
    elif rule is not None and group not in rule.groups:
        refusals.append(group_refusal(rule, group))
    elif rule is not None:  # conditions matter only to those entitled
        unknown = legal_status_refusal(rule, facts, group)
        refusals.extend([unknown] if unknown else [])
        found, requires = condition_refusals(rule, facts, beneficiary, day, declared)
        refusals.extend(found)
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
    return Assessment(
        kind, beneficiary, regime, rule, cap, remaining, tuple(refusals), tuple(requires)
    )


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
    assessment = assess(rules, facts, request.kind, request.beneficiary, request.granted_on,
                        declared=request.declared)  # fmt: skip
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
