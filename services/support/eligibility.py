"""Who is entitled: the regime a case falls under, the group a beneficiary belongs to (status,
nationality and residence, being abroad), and the conditions a rule sets. Pure."""

from collections.abc import Mapping
from datetime import date

from services.support.facts import PERSON, Facts, Refusal, add_months, beneficiaries
from services.support.policies import DECLARED, REGIME_CHANGE, Condition, Group, Regime, Rule
from shared.legal_time import next_working_day

WINDOW_MONTHS = 12  # Decree 09/2013 Art. 23: apply within 12 months of certification

PERSON_GROUPS = {
    "identified": Group.VICTIM,
    "received": Group.BEING_IDENTIFIED,
    "being_identified": Group.BEING_IDENTIFIED,
}
FOREIGN = {
    Group.VICTIM: Group.FOREIGN_VICTIM,
    Group.BEING_IDENTIFIED: Group.FOREIGN_BEING_IDENTIFIED,
    Group.ACCOMPANYING_MINOR: Group.FOREIGN_ACCOMPANYING_MINOR,
}
LABELS = {
    Group.VICTIM: "a victim",
    Group.BEING_IDENTIFIED: "a person being identified",
    Group.ACCOMPANYING_MINOR: "an accompanying minor",
    Group.BEING_IDENTIFIED_ABROAD: "a person being identified abroad",
    Group.ACCOMPANYING_MINOR_ABROAD: "a minor accompanying a person being identified abroad",
    Group.FOREIGN_VICTIM: "a foreign victim",
    Group.FOREIGN_BEING_IDENTIFIED: "a foreign person being identified",
    Group.FOREIGN_ACCOMPANYING_MINOR: "a minor accompanying a foreign person",
}
DECLARED_MESSAGES = {
    Condition.FINANCIAL_DIFFICULTY: "only for a person in financial difficulty",
    Condition.UNABLE_TO_PAY: "only for a person unable to pay for it",
    Condition.UNINSURED: "only for a person without health insurance",
    Condition.IN_FACILITY: "only during a stay at a social assistance or victim support facility",
}


def regime_of(facts: Facts) -> Regime:
    """Identified before 2025-07-01: the old regime for good. A person still being identified is
    placed by the reception date."""
    decisive = facts.identified_on if facts.status == "identified" else None
    day = decisive or facts.received_on
    return Regime.LAW_66_2011 if day < REGIME_CHANGE else Regime.LAW_53_2024


def group_of(facts: Facts, beneficiary: str, regime: Regime | None = None) -> Group | None:
    """The beneficiary's group: by status, then nationality and residence, then (Law 53/2024
    only: Law 66/2011 lists no such group) being identified abroad. A minor accompanies a victim
    or a person being identified, so support ends for both when the person is not a victim. An
    unrecorded nationality counts as Vietnamese here; ``legal_status_refusal`` stops what that
    would decide."""
    group = PERSON_GROUPS.get(facts.status)
    if group is None or beneficiary not in beneficiaries(facts):
        return None
    minor = beneficiary != PERSON
    if facts.legal_status == "foreign":
        return FOREIGN[Group.ACCOMPANYING_MINOR if minor else group]
    regime = regime or regime_of(facts)
    if facts.abroad and group is Group.BEING_IDENTIFIED and regime is Regime.LAW_53_2024:
        return Group.ACCOMPANYING_MINOR_ABROAD if minor else Group.BEING_IDENTIFIED_ABROAD
    return Group.ACCOMPANYING_MINOR if minor else group


def group_refusal(rule: Rule, group: Group) -> Refusal:
    basis = rule.groups_basis or rule.legal_basis
    return Refusal(f"group.{group}", "kind",
                   f"{basis}: {LABELS[group]} does not receive {rule.kind}")  # fmt: skip


def legal_status_refusal(rule: Rule, facts: Facts, group: Group) -> Refusal | None:
    """Where the rule is for Vietnamese citizens and stateless residents only, an unrecorded
    nationality must not pass for Vietnamese."""
    foreign = FOREIGN.get(group)
    if facts.legal_status is not None or foreign is None or foreign in rule.groups:
        return None
    return Refusal("fact.legal_status", "case_id",
                   f"the case records no nationality: {rule.kind} is only for Vietnamese citizens "
                   f"and stateless persons residing in Viet Nam "
                   f"({rule.groups_basis or rule.legal_basis})")  # fmt: skip


def within_a_year(facts: Facts, day: date) -> bool:
    """Within 12 months of identification, as the Civil Code counts a limit in months: it ends
    with the day that corresponds in the last month (Art. 148(1)), rolled past a weekend or
    holiday to the next working day (Art. 148(5)). One rule for both the 12-month window to
    apply (Decree 09/2013 Art. 23) and the first year (Law 53/2024 Art. 37)."""
    if facts.identified_on is None:
        return False
    return day <= next_working_day(add_months(facts.identified_on, WINDOW_MONTHS))


def condition_refusals(
    rule: Rule, facts: Facts, beneficiary: str, day: date, declared: Mapping[str, bool] | None
) -> tuple[list[Refusal], list[Refusal]]:
    """What the rule's conditions refuse, and what is still to be declared with a grant.
    ``declared`` None: no grant is asked (the entitlements), so declarations are only listed."""
    found: list[Refusal] = []
    basis = rule.legal_basis
    if Condition.POOR_HOUSEHOLD in rule.conditions and facts.poor_household is not True:
        found.append(Refusal("condition.poor_household", "kind",
                             f"only for a poor household, not recorded for this person "
                             f"({basis})"))  # fmt: skip
    if Condition.WITHIN_12_MONTHS in rule.conditions and not within_a_year(facts, day):
        found.append(Refusal("condition.within_12_months", "granted_at",
                             f"must be applied for within {WINDOW_MONTHS} months of "
                             f"identification ({basis})"))  # fmt: skip
    if Condition.FIRST_YEAR in rule.conditions and not within_a_year(facts, day):
        found.append(
            Refusal(
                "condition.first_year",
                "granted_at",
                f"only in the first year after identification ({basis})",
            )
        )
    if Condition.UNDER_18 in rule.conditions and beneficiary == PERSON and not facts.child:
        age = "is not recorded" if facts.age is None else f"is {facts.age}"
        found.append(
            Refusal(
                "condition.under_18",
                "beneficiary",
                f"only for a person under 18; the person's age {age} ({basis})",
            )
        )
    if (Condition.ACCOMPANIES_VICTIM in rule.conditions and beneficiary != PERSON
            and facts.status != "identified"):  # fmt: skip
        found.append(
            Refusal(
                "condition.accompanies_victim",
                "beneficiary",
                f"only for a minor accompanying an identified victim ({basis})",
            )
        )
    pending: list[Refusal] = []
    for condition in sorted(rule.conditions & DECLARED.keys()):
        name, meets = DECLARED[condition]
        given = None if declared is None else declared.get(name)
        message = f"{DECLARED_MESSAGES[condition]} ({basis})"
        if declared is None:
            pending.append(Refusal(f"declaration.{name}", f"declared.{name}",
                                   f"declare {name}: {message}"))  # fmt: skip
        elif given is None:
            found.append(Refusal("declaration.required", f"declared.{name}",
                                 f"{rule.kind} needs {name} declared: {message}"))  # fmt: skip
        elif given is not meets:
            found.append(Refusal(f"condition.{condition}", f"declared.{name}", message))
    return found, pending
