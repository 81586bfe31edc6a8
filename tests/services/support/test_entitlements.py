"""What a person may receive under the legal tables: rates, caps, groups, regimes, areas, consent,
and the checks on closures and disbursements. Plain calls on the shipped tables."""

import calendar
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.support.domain import (
    PERSON,
    ClosureReason,
    Facts,
    GrantDecision,
    Granted,
    GrantRequest,
    ReferralService,
    Refused,
    add_months,
    assess,
    cap_of,
    check_closure,
    check_disbursement,
    decide_grant,
    entitlements,
    referral_refusals,
    regime_of,
    required_referrals,
    rule_for,
)
from services.support.policies import Kind, Regime, Unit, load_rules

RULES = load_rules()
TODAY = date(2026, 12, 31)
LAW_53_IN_FORCE = date(2025, 7, 1)
BASIS = "Quyết định 37/2020/QĐ-UBND tỉnh Điện Biên"
STATUSES = ["received", "being_identified", "identified", "not_identified", "merged"]
# 2025 province and pre-2025 province: Tuyên Quang with former Hà Giang, with its own communes,
# and unplaced; Đắk Lắk with former Phú Yên; Khánh Hòa; Điện Biên; Hà Nội.
AREAS = [("08", "02"), ("08", "08"), ("08", None), ("66", "54"), ("66", "66"), ("56", "56"),
         ("11", "11"), ("01", "01")]  # fmt: skip
KNOWN_RATES = {
    ("08", "02"): [Kind.SHELTER_MEALS, Kind.ROAD_MEALS, Kind.HARDSHIP_ALLOWANCE, Kind.CLOTHING,
                   Kind.MEDICINE],
    ("66", "54"): [Kind.ROAD_MEALS, Kind.HARDSHIP_ALLOWANCE],
    ("56", "56"): [Kind.ROAD_MEALS, Kind.HARDSHIP_ALLOWANCE],
}  # fmt: skip


def facts(**changes: Any) -> Facts:
    """An adult identified as a victim in former Hà Giang, under the old regime, poor."""
    values = {"status": "identified", "received_on": date(2024, 3, 1),
              "identified_on": date(2024, 3, 5), "province": "08", "legacy_province": "02",
              "age": 30, "poor_household": True, "legal_status": "vietnamese"}  # fmt: skip
    return Facts(**(values | changes))


# Every circumstance a rule may ask the officer to declare, declared as the rule needs it.
MEETS = {"financial_difficulty": True, "unable_to_pay": True, "insured": False, "in_facility": True}


def request(**changes: Any) -> GrantRequest:
    values = {"kind": Kind.ROAD_MEALS, "quantity": 1, "granted_on": date(2024, 3, 10),
              "declared": MEETS}  # fmt: skip
    return GrantRequest(**(values | changes))


def decide(case: Facts, asked: GrantRequest) -> GrantDecision:
    return decide_grant(RULES, case, asked, TODAY)


def codes(decision: GrantDecision) -> set[str]:
    return {refusal.rule for refusal in decision.refusals}


def days(n: int) -> timedelta:
    return timedelta(days=n)


def three_months_of_days(start: date) -> int:
    month = start.month + 3
    year, month = start.year + (month - 1) // 12, (month - 1) % 12 + 1
    end = date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
    return (end - start).days


# --- 1. amounts ---------------------------------------------------------------------------------


@st.composite
def known_rate_cases(draw: st.DrawFn) -> tuple[Facts, GrantRequest]:
    """Old-regime cases in a province whose table sets the rate of the kind asked for."""
    (province, legacy), kinds = draw(st.sampled_from(sorted(KNOWN_RATES.items())))
    kind = draw(st.sampled_from(kinds))
    status = draw(st.sampled_from(["identified", "being_identified", "received"]))
    received = draw(st.dates(date(2020, 1, 1), date(2025, 3, 31)))
    identified = received + days(draw(st.integers(0, 60)))
    beneficiary = draw(st.sampled_from([PERSON, "minor-1"]))
    held = draw(st.none() | st.integers(0, 120))
    case = facts(
        status=status, received_on=received, province=province, legacy_province=legacy,
        identified_on=identified if status == "identified" else None,
        accompanying_minors=draw(st.integers(0, 2)), poor_household=draw(st.booleans()),
        granted={} if held is None else {(beneficiary, kind): Granted(held, received)},
    )  # fmt: skip
    quantity = draw(st.integers(1, 3) | st.integers(1, 366))
    granted_on = received + days(draw(st.integers(0, 400)))
    return case, request(kind=kind, quantity=quantity, granted_on=granted_on,
                         beneficiary=beneficiary)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(case=known_rate_cases())
def test_an_eligible_grant_at_a_known_rate_is_the_rate_times_a_quantity_within_the_cap(
    case: tuple[Facts, GrantRequest],
) -> None:
    person, asked = case
    decision = decide(person, asked)
    if decision.eligible:
        rule = decision.assessment.rule
        assert rule is not None
        assert rule.amount is not None
        assert decision.rate == rule.amount
        assert decision.amount == decision.rate * asked.quantity
        assert decision.amount >= 0
        remaining = decision.assessment.remaining
        assert remaining is None or asked.quantity <= remaining


@st.composite
def any_case(draw: st.DrawFn) -> tuple[Facts, GrantRequest]:
    province, legacy = draw(st.sampled_from(AREAS))
    received = draw(st.dates(date(2013, 1, 1), date(2026, 6, 30)))
    kind = draw(st.sampled_from(list(Kind)))
    beneficiary = draw(st.sampled_from([PERSON, "minor-1", "minor-2"]))
    held = draw(st.none() | st.integers(0, 120))
    case = facts(
        status=draw(st.sampled_from(STATUSES)), received_on=received, province=province,
        legacy_province=legacy, identified_on=draw(st.none() | st.just(received + days(3))),
        accompanying_minors=draw(st.integers(0, 2)), poor_household=draw(st.booleans()),
        granted={} if held is None else {(beneficiary, kind): Granted(held, received)},
    )  # fmt: skip
    asked = request(
        kind=kind, beneficiary=beneficiary, quantity=draw(st.integers(-3, 400)),
        granted_on=received + days(draw(st.integers(-10, 800))),
        amount=draw(st.none() | st.integers(-(10**6), 10**9)),
        basis=draw(st.none() | st.just(BASIS)), receipt=draw(st.none() | st.just("HĐ-0001")),
    )  # fmt: skip
    return case, asked


@settings(max_examples=200, deadline=None)
@given(case=any_case())
@example(case=(facts(), request(quantity=-1)))
@example(case=(facts(province="01"), request(kind=Kind.TRAVEL_FARE, amount=-1, receipt="HĐ-1")))
def test_no_decision_ever_carries_a_negative_amount(case: tuple[Facts, GrantRequest]) -> None:
    person, asked = case
    assert decide(person, asked).amount >= 0


# --- 2. caps ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    first_on=st.dates(date(2020, 7, 20), date(2025, 6, 1)),  # Hà Giang's 15/2020 in force
    held=st.none() | st.integers(0, 100),
    later=st.integers(0, 90),
    quantity=st.integers(1, 120),
)
def test_shelter_meals_in_ha_giang_stop_three_months_of_days_after_the_first_one(
    first_on: date, held: int | None, later: int, quantity: int
) -> None:
    granted = {} if held is None else {(PERSON, Kind.SHELTER_MEALS): Granted(held, first_on)}
    person = facts(received_on=first_on, identified_on=first_on, granted=granted)
    granted_on = first_on + days(later)
    decision = decide(person, request(kind=Kind.SHELTER_MEALS, quantity=quantity,
                                      granted_on=granted_on))  # fmt: skip
    cap = three_months_of_days(first_on if held is not None else granted_on)
    remaining = max(cap - (held or 0), 0)
    assert (decision.assessment.cap, decision.assessment.remaining) == (cap, remaining)
    if remaining == 0:
        assert codes(decision) == {"cap.exhausted"}
    elif quantity > remaining:
        assert codes(decision) == {"cap.exceeded"}
    else:
        assert decision.eligible
        assert decision.amount == 60000 * quantity


@pytest.mark.parametrize(
    ("first_on", "cap"),
    [(date(2024, 1, 1), 91), (date(2024, 7, 1), 92), (date(2025, 1, 1), 90),
     (date(2023, 1, 31), 89)],
)  # fmt: skip
def test_three_months_are_counted_in_days_from_the_first_day(first_on: date, cap: int) -> None:
    (meals,) = [rule for rule in RULES if rule.id == "ha-giang-15-2020/shelter_meals"]
    assert cap_of(meals, first_on) == cap


def test_what_was_granted_so_far_reduces_the_room_left() -> None:
    def with_held(quantity: int) -> Facts:
        return facts(granted={(PERSON, Kind.SHELTER_MEALS): Granted(quantity, date(2024, 1, 1))})

    asked = {"kind": Kind.SHELTER_MEALS, "granted_on": date(2024, 3, 21)}
    assert decide(with_held(80), request(quantity=11, **asked)).eligible  # 91 - 80 = 11 left
    assert codes(decide(with_held(80), request(quantity=12, **asked))) == {"cap.exceeded"}
    assert codes(decide(with_held(91), request(quantity=1, **asked))) == {"cap.exhausted"}
    minor = facts(accompanying_minors=1, granted=with_held(91).granted)
    assert decide(minor, request(quantity=91, beneficiary="minor-1", **asked)).eligible


def test_a_one_off_support_is_granted_once() -> None:
    held = facts(granted={(PERSON, Kind.CLOTHING): Granted(1, date(2024, 3, 6))})
    assert codes(decide(held, request(kind=Kind.CLOTHING))) == {"cap.exhausted"}
    assert codes(decide(facts(), request(kind=Kind.CLOTHING, quantity=2))) == {"quantity.once"}
    assert decide(facts(), request(kind=Kind.CLOTHING)).amount == 500000


@pytest.mark.parametrize(
    ("province", "legacy", "granted_on", "document", "cap"),
    [
        pytest.param("01", None, date(2019, 12, 1), "decree-09-2013", 60, id="Decree 09"),
        pytest.param("01", None, date(2020, 1, 10), "decree-09-2013", 60, id="its last day"),
        pytest.param("01", None, date(2020, 1, 11), "circular-84-2019", 91, id="Circular 84"),
        pytest.param("08", "02", date(2019, 12, 31), "decree-09-2013", 60, id="before Hà Giang"),
        pytest.param("08", "02", date(2020, 7, 19), "circular-84-2019", 92, id="Circular 84 still"),
        pytest.param("08", "02", date(2020, 7, 20), "ha-giang-15-2020", 92, id="Hà Giang"),
    ],
)
def test_the_shelter_rule_in_force_on_the_grant_date_sets_the_cap(
    province: str, legacy: str | None, granted_on: date, document: str, cap: int
) -> None:
    person = facts(province=province, legacy_province=legacy, received_on=date(2019, 11, 1),
                   identified_on=date(2019, 11, 5))  # fmt: skip
    decision = decide(person, request(kind=Kind.SHELTER_MEALS, granted_on=granted_on,
                                      quantity=cap + 1))  # fmt: skip
    assert decision.assessment.rule is not None
    assert decision.assessment.rule.document == document
    assert decision.assessment.cap == cap
    assert "cap.exceeded" in codes(decision)


def test_61_days_of_shelter_are_refused_under_decree_09_2013_but_not_circular_84_2019() -> None:
    person = facts(province="01", legacy_province=None, received_on=date(2019, 11, 1),
                   identified_on=date(2019, 11, 5))  # fmt: skip
    asked = {"kind": Kind.SHELTER_MEALS, "quantity": 61, "amount": 61 * 50000, "basis": BASIS}
    old = decide(person, request(granted_on=date(2020, 1, 10), **asked))
    new = decide(person, request(granted_on=date(2020, 1, 11), **asked))
    assert codes(old) == {"cap.exceeded"}
    assert new.eligible
    assert new.amount == 61 * 50000


# --- 3. who receives what -----------------------------------------------------------------------

VICTIMS_ONLY = {Kind.EDUCATION, Kind.VOCATIONAL_TRAINING, Kind.HARDSHIP_ALLOWANCE,
                Kind.HEALTH_INSURANCE}  # fmt: skip
NOT_FOR_MINORS = VICTIMS_ONLY | {Kind.LEGAL_AID}
OLD_REGIME = (date(2024, 3, 1), date(2024, 3, 5), date(2024, 3, 10))
NEW_REGIME = (date(2025, 7, 2), date(2025, 7, 5), date(2025, 7, 10))


# Law 53/2024 Art. 37(2), (3): legal aid and education reach more than the old regime's groups.
NEW_NOT_FOR_BEING_IDENTIFIED = VICTIMS_ONLY
NEW_NOT_FOR_MINORS = VICTIMS_ONLY - {Kind.EDUCATION}


@pytest.mark.parametrize(
    ("changes", "beneficiary", "refused", "code"),
    [
        pytest.param({}, PERSON, (set(), set()), "", id="a victim"),
        pytest.param({"status": "being_identified"}, PERSON,
                     (VICTIMS_ONLY, NEW_NOT_FOR_BEING_IDENTIFIED), "group.being_identified",
                     id="a person being identified"),
        pytest.param({"status": "received"}, PERSON,
                     (VICTIMS_ONLY, NEW_NOT_FOR_BEING_IDENTIFIED), "group.being_identified",
                     id="a person just received"),
        pytest.param({"accompanying_minors": 1}, "minor-1", (NOT_FOR_MINORS, NEW_NOT_FOR_MINORS),
                     "group.accompanying_minor", id="an accompanying minor"),
        pytest.param({"status": "not_identified"}, PERSON, (set(Kind), set(Kind)),
                     "group.not_identified", id="a person not identified"),
        pytest.param({"accompanying_minors": 1}, "minor-2", (set(Kind), set(Kind)),
                     "beneficiary.unknown", id="a second minor of a case with one"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("dates", [OLD_REGIME, NEW_REGIME], ids=["law-66-2011", "law-53-2024"])
def test_each_group_receives_the_kinds_the_law_gives_it(
    dates: tuple[date, date, date],
    changes: dict[str, Any],
    beneficiary: str,
    refused: tuple[set[Kind], set[Kind]],
    code: str,
) -> None:
    """A victim of 16 (education is for minors), declaring every circumstance a rule needs."""
    received_on, identified_on, granted_on = dates
    identified = changes.get("status", "identified") == "identified"
    person = facts(province="01", legacy_province=None, received_on=received_on, age=16,
                   identified_on=identified_on if identified else None, **changes)  # fmt: skip
    for kind in Kind:
        asked = request(kind=kind, beneficiary=beneficiary, granted_on=granted_on,
                        amount=100000, basis=BASIS, receipt="HĐ-0001")  # fmt: skip
        found = codes(decide(person, asked))
        if dates is NEW_REGIME and kind is Kind.MEDICINE:  # Decree 162's table has no medicine
            found.discard("policy.none")
        if kind in refused[dates is NEW_REGIME]:
            assert code in found, kind
        else:
            assert found == set(), kind


@pytest.mark.parametrize(
    ("kind", "amount", "refusals"),
    [
        (Kind.HARDSHIP_ALLOWANCE, 3000000, set()),
        (Kind.EDUCATION, 0, {"amount.unknown", "condition.under_18"}),
        (Kind.VOCATIONAL_TRAINING, 0, {"amount.required", "receipt.required"}),
    ],
)
def test_a_victim_asks_only_for_what_the_table_leaves_open(
    kind: Kind, amount: int, refusals: set[str]
) -> None:
    decision = decide(facts(), request(kind=kind))
    assert (decision.amount, codes(decision)) == (amount, refusals)


def test_an_accompanying_minor_gets_essential_needs_but_not_the_hardship_allowance() -> None:
    person = facts(accompanying_minors=1)
    for kind, amount in [(Kind.SHELTER_MEALS, 60000), (Kind.ROAD_MEALS, 100000),
                         (Kind.CLOTHING, 500000), (Kind.MEDICINE, 200000)]:  # fmt: skip
        decision = decide(person, request(kind=kind, beneficiary="minor-1"))
        assert (decision.eligible, decision.amount) == (True, amount)
    hardship = decide(person, request(kind=Kind.HARDSHIP_ALLOWANCE, beneficiary="minor-1"))
    assert codes(hardship) == {"group.accompanying_minor"}
    assert codes(decide(person, request(beneficiary="minor-2"))) == {"beneficiary.unknown"}


def test_a_person_not_identified_gets_nothing() -> None:
    person = facts(status="not_identified", identified_on=None)
    for found in entitlements(RULES, person, date(2024, 3, 10)):
        assert "group.not_identified" in {refusal.rule for refusal in found.refusals}


def test_the_minors_of_a_person_not_identified_get_nothing_either() -> None:
    # The law supports minors accompanying a victim or a person being identified; once the
    # person is found not to be a victim, "support has ended" for the case.
    person = facts(status="not_identified", identified_on=None, accompanying_minors=1)
    for found in entitlements(RULES, person, date(2024, 3, 10)):
        assert not found.eligible, (found.beneficiary, found.kind)


def test_entitlements_assess_every_kind_for_every_beneficiary() -> None:
    person = facts(accompanying_minors=2)
    found = entitlements(iter(RULES), person, date(2024, 3, 10))
    assert len(found) == 3 * len(Kind)
    assert {(a.beneficiary, a.kind) for a in found} == {
        (who, kind) for who in (PERSON, "minor-1", "minor-2") for kind in Kind
    }
    for assessment in found:
        assert assessment == assess(RULES, person, assessment.kind, assessment.beneficiary,
                                    date(2024, 3, 10))  # fmt: skip


def test_a_kind_without_a_rule_in_force_is_refused() -> None:
    # Health-insurance cards came with Circular 84/2019, in force from 2020-01-13.
    person = facts(received_on=date(2019, 6, 1), identified_on=date(2019, 6, 5))
    decision = decide(person, request(kind=Kind.HEALTH_INSURANCE, granted_on=date(2019, 6, 10),
                                      amount=700000, receipt="HĐ-1"))  # fmt: skip
    assert codes(decision) == {"policy.none"}
    assert decision.amount == 0


def test_grants_are_dated_between_the_reception_and_today() -> None:
    early = decide(facts(), request(granted_on=date(2024, 2, 29)))
    late = decide_grant(RULES, facts(), request(granted_on=date(2024, 3, 10)), date(2024, 3, 9))
    assert codes(early) == {"granted_at.before_reception"}
    assert codes(late) == {"granted_at.future"}


# --- 4. the regime ------------------------------------------------------------------------------


def test_a_victim_identified_on_2025_06_30_keeps_ha_giang_rates() -> None:
    person = facts(received_on=date(2025, 6, 20), identified_on=date(2025, 6, 30))
    decision = decide(person, request(quantity=3, granted_on=date(2025, 7, 15)))
    assert decision.assessment.regime is Regime.LAW_66_2011
    assert (decision.eligible, decision.rate, decision.amount) == (True, 100000, 300000)


def test_a_victim_identified_on_2025_07_01_falls_under_law_53_2024_whose_amounts_are_unknown() -> (
    None
):
    person = facts(received_on=date(2025, 6, 20), identified_on=date(2025, 7, 1))
    plain = decide(person, request(quantity=3, granted_on=date(2025, 7, 15)))
    assert plain.assessment.regime is Regime.LAW_53_2024
    assert (codes(plain), plain.rate, plain.amount) == ({"amount.unknown"}, None, 0)
    no_basis = decide(person, request(quantity=3, granted_on=date(2025, 7, 15), amount=300000))
    assert codes(no_basis) == {"amount.unknown"}
    explicit = decide(person, request(quantity=3, granted_on=date(2025, 7, 15), amount=300000,
                                      basis="Nghị định 162/2025/NĐ-CP"))  # fmt: skip
    assert (explicit.eligible, explicit.amount) == (True, 300000)
    assert explicit.legal_basis == "Nghị định 162/2025/NĐ-CP"


@pytest.mark.parametrize(
    ("received_on", "regime"),
    [(date(2025, 6, 30), Regime.LAW_66_2011), (date(2025, 7, 1), Regime.LAW_53_2024)],
)
def test_a_person_still_being_identified_is_placed_by_the_reception_date(
    received_on: date, regime: Regime
) -> None:
    assert regime_of(facts(status="being_identified", identified_on=None,
                           received_on=received_on)) is regime  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    identified_on=st.dates(date(2024, 1, 1), date(2026, 6, 30)),
    waited=st.integers(0, 60),
    later=st.integers(0, 60),
    quantity=st.integers(1, 30),
)
def test_the_identification_date_chooses_the_regime_and_so_the_rates(
    identified_on: date, waited: int, later: int, quantity: int
) -> None:
    person = facts(received_on=identified_on - days(waited), identified_on=identified_on)
    decision = decide(person, request(quantity=quantity, granted_on=identified_on + days(later)))
    rule = decision.assessment.rule
    assert rule is not None
    if identified_on < LAW_53_IN_FORCE:
        assert decision.assessment.regime is Regime.LAW_66_2011
        assert rule.document == "ha-giang-15-2020"
        assert (decision.eligible, decision.amount) == (True, 100000 * quantity)
    else:
        assert decision.assessment.regime is Regime.LAW_53_2024
        assert rule.document == "decree-162-2025"
        assert (codes(decision), decision.amount) == ({"amount.unknown"}, 0)


@settings(max_examples=200, deadline=None)
@given(
    status=st.sampled_from(STATUSES),
    received_on=st.dates(date(2013, 1, 1), date(2027, 12, 31)),
    identified_on=st.none() | st.dates(date(2013, 1, 1), date(2027, 12, 31)),
)
def test_the_regime_is_that_of_the_identification_or_else_of_the_reception(
    status: str, received_on: date, identified_on: date | None
) -> None:
    person = facts(status=status, received_on=received_on, identified_on=identified_on)
    decisive = identified_on if status == "identified" and identified_on else received_on
    expected = Regime.LAW_66_2011 if decisive < LAW_53_IN_FORCE else Regime.LAW_53_2024
    assert regime_of(person) is expected


# --- 5. conditions ------------------------------------------------------------------------------


@pytest.mark.parametrize("poor", [None, False])
def test_the_hardship_allowance_is_for_poor_households(poor: bool | None) -> None:
    decision = decide(facts(poor_household=poor), request(kind=Kind.HARDSHIP_ALLOWANCE))
    assert codes(decision) == {"condition.poor_household"}


@pytest.mark.parametrize(
    ("province", "legacy", "amount"),
    [("08", "02", 3000000), ("66", "54", 1300000), ("56", "56", 2000000)],
)
def test_the_hardship_allowance_is_paid_within_12_months_of_identification(
    province: str, legacy: str, amount: int
) -> None:
    person = facts(province=province, legacy_province=legacy)  # identified 2024-03-05
    last = decide(person, request(kind=Kind.HARDSHIP_ALLOWANCE, granted_on=date(2025, 3, 5)))
    after = decide(person, request(kind=Kind.HARDSHIP_ALLOWANCE, granted_on=date(2025, 3, 6)))
    assert (last.eligible, last.amount) == (True, amount)
    assert codes(after) == {"condition.within_12_months"}


# --- 6. unknown amounts -------------------------------------------------------------------------


def dien_bien(**changes: Any) -> Facts:
    return facts(province="11", legacy_province="11", **changes)


def test_dien_bien_needs_an_explicit_amount_and_its_basis() -> None:
    assert codes(decide(dien_bien(), request())) == {"amount.unknown"}
    assert codes(decide(dien_bien(), request(amount=80000))) == {"amount.unknown"}
    assert codes(decide(dien_bien(), request(basis=BASIS))) == {"amount.unknown"}
    granted = decide(dien_bien(), request(quantity=2, amount=160000, basis=BASIS))
    assert (granted.eligible, granted.amount, granted.rate) == (True, 160000, None)
    assert granted.legal_basis == BASIS
    assert granted.assessment.rule is not None
    assert granted.assessment.rule.document == "dien-bien-37-2020"


@pytest.mark.parametrize(
    ("quantity", "amount", "refusals"),
    [(1, 70000, set()), (1, 69999, {"amount.below_minimum"}), (3, 210000, set()),
     (3, 209999, {"amount.below_minimum"})],
)  # fmt: skip
def test_explicit_road_meals_are_not_below_the_national_minimum_of_circular_84_2019(
    quantity: int, amount: int, refusals: set[str]
) -> None:
    asked = request(quantity=quantity, amount=amount, basis=BASIS)
    assert codes(decide(dien_bien(), asked)) == refusals


def test_the_national_minimum_holds_however_the_rules_are_given() -> None:
    asked = request(amount=60000, basis=BASIS)
    assert codes(decide_grant(iter(RULES), dien_bien(), asked, TODAY)) == {"amount.below_minimum"}


def test_the_national_minimum_is_not_older_than_circular_84_2019() -> None:
    person = dien_bien(received_on=date(2020, 1, 2), identified_on=date(2020, 1, 3))
    asked = request(amount=60000, basis=BASIS, granted_on=date(2020, 1, 10))
    assert decide(person, asked).eligible
    assert codes(decide(person, request(amount=60000, basis=BASIS, granted_on=date(2020, 1, 11))))


def test_an_explicit_amount_may_not_differ_from_a_rate_set_by_law() -> None:
    refused = decide(facts(), request(quantity=2, amount=180000, basis=BASIS))
    assert (codes(refused), refused.amount) == ({"amount.set_by_law"}, 0)
    same = decide(facts(), request(quantity=2, amount=200000))
    assert (same.eligible, same.amount) == (True, 200000)


# --- 7. actual costs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "refusals"),
    [
        ({}, {"amount.required", "receipt.required"}),
        ({"amount": 450000}, {"receipt.required"}),
        ({"receipt": "HĐ-0001"}, {"amount.required"}),
        ({"amount": 450000, "receipt": ""}, {"receipt.required"}),
        ({"amount": 450000, "receipt": "HĐ-0001", "quantity": 2}, {"quantity.actual_cost"}),
        ({"amount": 450000, "receipt": "HĐ-0001"}, set()),
    ],
)
def test_a_fare_is_paid_at_its_actual_cost_on_a_receipt(
    changes: dict[str, Any], refusals: set[str]
) -> None:
    decision = decide(facts(), request(kind=Kind.TRAVEL_FARE, **changes))
    assert codes(decision) == refusals
    assert decision.rate is None
    if not refusals:
        assert decision.amount == 450000


# --- 8. areas -----------------------------------------------------------------------------------


def test_a_case_in_tuyen_quang_without_its_former_province_cannot_be_placed() -> None:
    unplaced = facts(legacy_province=None)
    assert codes(decide(unplaced, request())) == {"area.undetermined"}
    fare = decide(unplaced, request(kind=Kind.TRAVEL_FARE, amount=450000, receipt="HĐ-0001"))
    assert fare.eligible  # Hà Giang sets no fare: the national rule applies anywhere


def test_the_former_province_decides_within_a_merged_province() -> None:
    tuyen_quang = decide(facts(legacy_province="08"), request())
    assert codes(tuyen_quang) == {"amount.unknown"}
    assert tuyen_quang.assessment.rule is not None
    assert tuyen_quang.assessment.rule.document == "circular-84-2019"
    phu_yen = decide(facts(province="66", legacy_province="54"), request())
    assert (phu_yen.eligible, phu_yen.amount) == (True, 90000)


def test_province_documents_of_the_old_regime_do_not_reach_the_new_one() -> None:
    person = facts(legacy_province=None, received_on=date(2025, 7, 2),
                   identified_on=date(2025, 7, 5))  # fmt: skip
    assert codes(decide(person, request(granted_on=date(2025, 7, 10)))) == {"amount.unknown"}


def test_ha_noi_has_no_table_of_its_own_and_falls_back_to_the_national_rules() -> None:
    ha_noi = facts(province="01", legacy_province="01")
    rule = rule_for(RULES, Kind.ROAD_MEALS, Regime.LAW_66_2011, ha_noi, date(2024, 3, 10))
    assert rule is not None
    assert (rule.document, rule.minimum) == ("circular-84-2019", 70000)
    assert codes(decide(ha_noi, request())) == {"amount.unknown"}
    assert decide(ha_noi, request(amount=70000, basis=BASIS)).eligible


# --- 9. consent and the case --------------------------------------------------------------------


def test_no_support_without_consent_to_services() -> None:
    assert codes(decide(facts(consent_services=False), request())) == {"consent.services"}


def test_a_declined_kind_is_refused_and_the_others_are_not() -> None:
    declined = facts(refused_kinds=frozenset({"clothing"}))
    assert codes(decide(declined, request(kind=Kind.CLOTHING))) == {"consent.refused"}
    assert decide(declined, request()).eligible


def test_declining_all_support_refuses_every_kind() -> None:
    declined = facts(refused_kinds=frozenset({"all"}))
    for found in entitlements(RULES, declined, date(2024, 3, 10)):
        assert "consent.refused" in {refusal.rule for refusal in found.refusals}


@pytest.mark.parametrize(
    ("changes", "code"),
    [({"closed": True}, "case.closed"), ({"status": "merged"}, "case.merged")],
)
def test_a_closed_or_merged_case_receives_nothing(changes: dict[str, Any], code: str) -> None:
    assert code in codes(decide(facts(**changes), request()))


def test_a_child_is_referred_to_child_protection_even_without_consent() -> None:
    child = facts(age=15, consent_services=False, refused_kinds=frozenset({"all"}))
    assert required_referrals(child) == [ReferralService.CHILD_PROTECTION]
    assert referral_refusals(child, ReferralService.CHILD_PROTECTION) == []
    codes_for_shelter = {r.rule for r in referral_refusals(child, ReferralService.SHELTER)}
    assert codes_for_shelter == {"consent.services"}


def test_an_adult_with_an_accompanying_minor_is_referred_too() -> None:
    adult = facts(accompanying_minors=1, consent_services=False)
    assert required_referrals(adult) == [ReferralService.CHILD_PROTECTION]
    assert referral_refusals(adult, ReferralService.CHILD_PROTECTION) == []
    assert required_referrals(facts()) == []


def test_a_closed_case_refers_no_one_not_even_a_child() -> None:
    child = facts(age=15, closed=True)
    found = referral_refusals(child, ReferralService.CHILD_PROTECTION)
    assert [r.rule for r in found] == ["case.closed"]


# --- closures -----------------------------------------------------------------------------------


def refusal_codes_of_closure(case: Facts, reason: ClosureReason, **changes: Any) -> set[str]:
    values = {"referrals": {}, "closed_on": date(2024, 6, 1), "today": date(2024, 6, 1)}
    try:
        check_closure(case, reason, **(values | changes))
    except Refused as refused:
        return {refusal.rule for refusal in refused.refusals}
    return set()


def test_a_case_closes_once_between_its_reception_and_today() -> None:
    assert refusal_codes_of_closure(facts(), ClosureReason.REINTEGRATED) == set()
    assert refusal_codes_of_closure(facts(closed=True), ClosureReason.OTHER) == {"case.closed"}
    early = refusal_codes_of_closure(facts(), ClosureReason.OTHER, closed_on=date(2024, 2, 1))
    late = refusal_codes_of_closure(facts(), ClosureReason.OTHER, closed_on=date(2024, 6, 2))
    assert early == late == {"closed_on.range"}


def test_a_person_at_risk_of_retrafficking_is_not_closed_as_reintegrated() -> None:
    at_risk = facts(retrafficking_risk=True)
    assert refusal_codes_of_closure(at_risk, ClosureReason.REINTEGRATED) == {"risk.raised"}
    assert refusal_codes_of_closure(at_risk, ClosureReason.MOVED_AWAY) == set()


@pytest.mark.parametrize(
    ("state", "refusals"),
    [(None, {"referral.child_protection"}), ("rejected", {"referral.child_protection"}),
     ("requested", set()), ("accepted", set()), ("done", set())],
)  # fmt: skip
def test_a_childs_case_closes_only_once_child_protection_has_the_referral(
    state: str | None, refusals: set[str]
) -> None:
    referrals = {} if state is None else {"child_protection": state}
    child = facts(age=15)
    assert refusal_codes_of_closure(child, ClosureReason.MOVED_AWAY, referrals=referrals) == (
        refusals
    )


# --- 10. disbursements --------------------------------------------------------------------------


def refusal_codes_of_disbursement(
    granted: int, disbursed: int, amount: int, budget: int | None, spent: int
) -> set[str]:
    try:
        check_disbursement(granted, disbursed, amount, budget, spent)
    except Refused as refused:
        return {refusal.rule for refusal in refused.refusals}
    return set()


def test_a_disbursement_stays_within_the_grant_and_the_budget() -> None:
    assert refusal_codes_of_disbursement(300000, 100000, 200000, 1000000, 800000) == set()
    assert refusal_codes_of_disbursement(300000, 100000, 200001, 10**9, 0) == {
        "disbursement.above_grant"
    }
    assert refusal_codes_of_disbursement(300000, 0, 1, None, 0) == {"budget.missing"}
    assert refusal_codes_of_disbursement(300000, 0, 300000, 1000000, 700001) == {"budget.exceeded"}


@settings(max_examples=200, deadline=None)
@given(
    granted=st.integers(0, 10**9),
    disbursed=st.integers(0, 10**9),
    amount=st.integers(1, 10**9),
    budget=st.none() | st.integers(0, 10**10),
    spent=st.integers(0, 10**10),
)
def test_a_disbursement_is_refused_exactly_when_it_passes_the_grant_or_the_budget(
    granted: int, disbursed: int, amount: int, budget: int | None, spent: int
) -> None:
    expected = set()
    if disbursed + amount > granted:
        expected.add("disbursement.above_grant")
    if budget is None:
        expected.add("budget.missing")
    elif spent + amount > budget:
        expected.add("budget.exceeded")
    assert refusal_codes_of_disbursement(granted, disbursed, amount, budget, spent) == expected


# --- calendar -----------------------------------------------------------------------------------


def test_months_are_added_to_the_end_of_a_shorter_month() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 15), 3) == date(2026, 2, 15)


@given(day=st.dates(date(2000, 1, 1), date(2090, 12, 31)), months=st.integers(0, 120))
def test_adding_months_moves_the_month_and_keeps_the_day_where_it_can(
    day: date, months: int
) -> None:
    later = add_months(day, months)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months
    assert later.day == min(day.day, calendar.monthrange(later.year, later.month)[1])


def test_unit_caps_follow_the_rule() -> None:
    by_id = {rule.id: rule for rule in RULES}
    assert cap_of(by_id["ha-giang-15-2020/clothing"], date(2024, 3, 1)) == 1
    assert cap_of(by_id["decree-09-2013/education"], date(2024, 3, 1)) == 1
    assert cap_of(by_id["decree-162-2025/education"], date(2025, 9, 1)) == 2
    assert cap_of(by_id["decree-09-2013/vocational_training"], date(2024, 3, 1)) == 1
    assert cap_of(by_id["ha-giang-15-2020/road_meals"], date(2024, 3, 1)) is None
    assert by_id["circular-84-2019/travel_fare"].unit is Unit.ACTUAL_COST
