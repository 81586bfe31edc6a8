"""Issue 14, items 1-3: from when each document applies, and who is entitled to what under each
regime. Each test is named after its legal basis. Plain calls on the shipped tables."""

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.support.domain import (
    PERSON,
    Facts,
    GrantDecision,
    Granted,
    GrantRequest,
    decide_grant,
    entitlements,
    rule_for,
)
from services.support.eligibility import within_a_year
from services.support.handlers import legal_status_of
from services.support.policies import Kind, Regime, load_rules

RULES = load_rules()
TODAY = date(2026, 12, 31)
MEETS = {"financial_difficulty": True, "unable_to_pay": True, "insured": False, "in_facility": True}
# The earliest day each province document may apply: its start, or where unknown its adoption.
PROVINCE_STARTS = {
    "ha-giang-15-2020": date(2020, 7, 20),
    "khanh-hoa-05-2020": date(2020, 8, 1),
    "phu-yen-05-2020": date(2020, 7, 20),  # start unknown: adopted 2020-07-10, + 10 days
    "dien-bien-37-2020": date(2021, 1, 10),  # start unknown: dated 2020-12-31, + 10 days
}
AREAS = [("08", "02"), ("66", "54"), ("56", "56"), ("11", "11"), ("01", "01")]
OLD = {"received_on": date(2024, 3, 1), "identified_on": date(2024, 3, 5)}
NEW = {"received_on": date(2025, 8, 1), "identified_on": date(2025, 8, 5)}
NEW_DAY = date(2025, 8, 10)


def facts(**changes: Any) -> Facts:
    """A Vietnamese adult identified as a victim in former Hà Giang, old regime, poor."""
    values = {"status": "identified", "province": "08", "legacy_province": "02", "age": 30,
              "poor_household": True, "legal_status": "vietnamese", **OLD}  # fmt: skip
    return Facts(**(values | changes))


def new_regime(**changes: Any) -> Facts:
    return facts(**(NEW | {"province": "01", "legacy_province": None} | changes))


def request(**changes: Any) -> GrantRequest:
    values = {"kind": Kind.ROAD_MEALS, "quantity": 1, "granted_on": date(2024, 3, 10),
              "amount": 100000, "basis": "Nghị định 162/2025/NĐ-CP", "receipt": "HĐ-1",
              "declared": MEETS}  # fmt: skip
    return GrantRequest(**(values | changes))


def decide(case: Facts, asked: GrantRequest) -> GrantDecision:
    return decide_grant(RULES, case, asked, TODAY)


def codes(decision: GrantDecision) -> set[str]:
    return {refusal.rule for refusal in decision.refusals}


def by_id(rule_id: str) -> Any:
    (rule,) = [rule for rule in RULES if rule.id == rule_id]
    return rule


# --- 1. from when -------------------------------------------------------------------------------


def test_resolution_15_2020_ha_giang_applies_from_2020_07_20_and_the_national_rules_before() -> (
    None
):
    person = facts(received_on=date(2020, 7, 1), identified_on=date(2020, 7, 2))
    before = decide(person, request(granted_on=date(2020, 7, 19), amount=None, basis=None))
    after = decide(person, request(granted_on=date(2020, 7, 20), amount=None, basis=None))
    assert before.assessment.rule is not None
    assert after.assessment.rule is not None
    assert before.assessment.rule.document == "circular-84-2019"
    assert codes(before) == {"amount.unknown"}  # the national rate is not known here
    assert after.assessment.rule.document == "ha-giang-15-2020"
    assert (after.eligible, after.amount) == (True, 100000)


def test_resolution_05_2020_khanh_hoa_applies_from_2020_08_01() -> None:
    person = facts(province="56", legacy_province="56", received_on=date(2020, 7, 1),
                   identified_on=date(2020, 7, 2))  # fmt: skip
    july = rule_for(RULES, Kind.ROAD_MEALS, Regime.LAW_66_2011, person, date(2020, 7, 31))
    august = rule_for(RULES, Kind.ROAD_MEALS, Regime.LAW_66_2011, person, date(2020, 8, 1))
    assert july is not None
    assert august is not None
    assert (july.document, august.document) == ("circular-84-2019", "khanh-hoa-05-2020")
    assert august.start_known


def test_resolution_05_2020_phu_yen_has_an_unknown_start_and_is_never_applied_before_adoption() -> (
    None
):
    rule = by_id("phu-yen-05-2020/road_meals")
    assert not rule.start_known
    assert rule.effective_from >= date(2020, 7, 10)
    assert rule.effective_from == date(2020, 7, 20)  # Law 80/2015 Art. 151(1): 10 days at least
    assert rule.start_note is not None
    assert "2020-07-10" in rule.start_note
    person = facts(province="66", legacy_province="54", received_on=date(2020, 7, 1),
                   identified_on=date(2020, 7, 2))  # fmt: skip
    adopted = rule_for(RULES, Kind.ROAD_MEALS, Regime.LAW_66_2011, person, date(2020, 7, 10))
    assert adopted is not None
    assert adopted.document == "circular-84-2019"


def test_decision_37_2020_dien_bien_is_not_applied_before_its_date_2020_12_31() -> None:
    rule = by_id("dien-bien-37-2020/road_meals")
    assert rule.legal_basis.startswith("Quyết định 37/2020/QĐ-UBND")
    assert not rule.start_known
    assert rule.effective_from > date(2020, 12, 31)
    person = facts(province="11", legacy_province="11", received_on=date(2020, 12, 1),
                   identified_on=date(2020, 12, 2))  # fmt: skip
    december = rule_for(RULES, Kind.ROAD_MEALS, Regime.LAW_66_2011, person, date(2020, 12, 31))
    assert december is not None
    assert december.document == "circular-84-2019"


def test_law_80_2015_art_151_decree_09_2013_ends_the_day_before_circular_84_2019_applies() -> None:
    for kind in (Kind.SHELTER_MEALS, Kind.ROAD_MEALS, Kind.TRAVEL_FARE):
        old, new = by_id(f"decree-09-2013/{kind}"), by_id(f"circular-84-2019/{kind}")
        assert old.effective_to + timedelta(days=1) == new.effective_from == date(2020, 1, 11)


def test_decree_09_2013_art_23_sets_the_hardship_allowance() -> None:
    assert by_id("decree-09-2013/hardship_allowance").legal_basis.endswith("Điều 23")


def test_every_shipped_row_cites_its_article_or_a_document_without_one() -> None:
    undivided = {"circular-84-2019", *PROVINCE_STARTS}  # articles not in the sources at hand
    for rule in RULES:
        if rule.document not in undivided and rule.id != "decree-09-2013/medicine":
            assert "Điều" in rule.legal_basis, rule.id


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(date(2019, 1, 1), date(2025, 6, 30)),
    area=st.sampled_from(AREAS),
    kind=st.sampled_from(list(Kind)),
)
def test_a_province_rule_is_never_applied_before_its_document_starts(
    day: date, area: tuple[str, str], kind: Kind
) -> None:
    person = facts(province=area[0], legacy_province=area[1], received_on=date(2019, 1, 1),
                   identified_on=date(2019, 1, 2))  # fmt: skip
    rule = rule_for(RULES, kind, Regime.LAW_66_2011, person, day)
    if rule is not None and rule.province is not None:
        assert day >= PROVINCE_STARTS[rule.document]


# --- 2. the old regime: Law 66/2011, Decree 09/2013 ---------------------------------------------


def test_decree_09_2013_art_23_education_is_for_minor_victims_of_poor_households() -> None:
    asked = request(kind=Kind.EDUCATION)
    assert "condition.under_18" in codes(decide(facts(age=30), asked))
    assert "condition.under_18" in codes(decide(facts(age=None), asked))
    assert decide(facts(age=15), asked).eligible
    assert codes(decide(facts(age=15, poor_household=False), asked)) == {"condition.poor_household"}
    second = facts(age=15, granted={(PERSON, Kind.EDUCATION): Granted(1, date(2024, 3, 9))})
    assert codes(decide(second, asked)) == {"cap.exhausted"}  # the first school year only


def test_decree_09_2013_art_23_vocational_training_is_granted_once() -> None:
    asked = request(kind=Kind.VOCATIONAL_TRAINING)
    assert decide(facts(), asked).eligible
    trained = facts(granted={(PERSON, Kind.VOCATIONAL_TRAINING): Granted(1, date(2024, 3, 8))})
    assert codes(decide(trained, asked)) == {"cap.exhausted"}


@pytest.mark.parametrize("kind", [Kind.EDUCATION, Kind.VOCATIONAL_TRAINING,
                                  Kind.HARDSHIP_ALLOWANCE])  # fmt: skip
def test_decree_09_2013_art_23_is_for_vietnamese_citizens_and_stateless_residents(
    kind: Kind,
) -> None:
    asked = request(kind=kind)
    ha_noi = {"age": 15, "province": "01", "legacy_province": None}  # national, unknown rates
    assert decide(facts(**ha_noi, legal_status="stateless_resident"), asked).eligible
    foreign = decide(facts(**ha_noi, legal_status="foreign"), asked)
    assert codes(foreign) == {"group.foreign_victim"}
    assert codes(decide(facts(**ha_noi, legal_status=None), asked)) == {"fact.legal_status"}


def test_decree_09_2013_gives_a_foreign_victim_essential_needs() -> None:
    foreign = facts(legal_status="foreign", accompanying_minors=1)
    for kind, amount in [(Kind.SHELTER_MEALS, 60000), (Kind.ROAD_MEALS, 100000),
                         (Kind.CLOTHING, 500000)]:  # fmt: skip
        for who in (PERSON, "minor-1"):
            decision = decide(foreign, request(kind=kind, beneficiary=who, amount=None))
            assert (decision.eligible, decision.amount) == (True, amount)


def test_law_66_2011_art_32_legal_aid_is_for_a_victim_in_financial_difficulty() -> None:
    def aid(declared: dict[str, bool]) -> GrantDecision:
        return decide(facts(), request(kind=Kind.LEGAL_AID, declared=declared))

    assert aid({"financial_difficulty": True}).eligible
    refused = aid({})
    assert codes(refused) == {"declaration.required"}
    assert [r.field for r in refused.refusals] == ["declared.financial_difficulty"]
    assert codes(aid({"financial_difficulty": False})) == {"condition.financial_difficulty"}


# --- 3. the new regime: Law 53/2024 Art. 37, Decree 162/2025 --------------------------------------


def test_law_53_2024_art_37_2_a_minor_with_a_victim_receives_legal_aid_and_education() -> None:
    person = new_regime(accompanying_minors=1)
    for kind in (Kind.LEGAL_AID, Kind.EDUCATION):
        assert decide(
            person, request(kind=kind, beneficiary="minor-1", granted_on=NEW_DAY)
        ).eligible
    for kind in (Kind.VOCATIONAL_TRAINING, Kind.HARDSHIP_ALLOWANCE):
        decision = decide(person, request(kind=kind, beneficiary="minor-1", granted_on=NEW_DAY))
        assert codes(decision) == {"group.accompanying_minor"}


def test_law_53_2024_art_37_3_a_minor_with_a_person_being_identified_gets_no_education() -> None:
    person = new_regime(status="being_identified", identified_on=None, accompanying_minors=1)
    asked = request(kind=Kind.EDUCATION, beneficiary="minor-1", granted_on=NEW_DAY)
    assert codes(decide(person, asked)) == {"condition.accompanies_victim"}
    assert decide(person, request(kind=Kind.LEGAL_AID, beneficiary="minor-1",
                                  granted_on=NEW_DAY)).eligible  # fmt: skip


def test_decree_162_2025_art_24_education_for_under_18s_the_first_school_year_and_the_next() -> (
    None
):
    asked = request(kind=Kind.EDUCATION, granted_on=NEW_DAY)
    assert codes(decide(new_regime(age=19), asked)) == {"condition.under_18"}
    one = {(PERSON, Kind.EDUCATION): Granted(1, NEW_DAY)}
    assert decide(new_regime(age=16), request(kind=Kind.EDUCATION, granted_on=NEW_DAY,
                                              quantity=2)).eligible  # fmt: skip
    assert decide(new_regime(age=16, granted=one), asked).eligible
    two = {(PERSON, Kind.EDUCATION): Granted(2, NEW_DAY)}
    assert codes(decide(new_regime(age=16, granted=two), asked)) == {"cap.exhausted"}


FOREIGN_REFUSED = {Kind.TRAVEL_FARE, Kind.ROAD_MEALS, Kind.EDUCATION, Kind.VOCATIONAL_TRAINING,
                   Kind.HARDSHIP_ALLOWANCE, Kind.HEALTH_INSURANCE}  # fmt: skip
FOREIGN_GIVEN = {Kind.SHELTER_MEALS, Kind.CLOTHING, Kind.MEDICAL_CARE, Kind.LEGAL_AID,
                 Kind.PSYCHOLOGICAL_COUNSELLING}  # fmt: skip


def test_law_53_2024_art_37_4_a_foreign_victim_receives_only_the_kinds_listed() -> None:
    person = new_regime(legal_status="foreign", age=16)
    for kind in FOREIGN_GIVEN:
        assert decide(person, request(kind=kind, granted_on=NEW_DAY)).eligible, kind
    for kind in FOREIGN_REFUSED:
        decision = decide(person, request(kind=kind, granted_on=NEW_DAY))
        assert codes(decision) == {"group.foreign_victim"}, kind
    hardship = decide(person, request(kind=Kind.HARDSHIP_ALLOWANCE, granted_on=NEW_DAY))
    (refusal,) = hardship.refusals
    assert refusal.message == (
        "Luật 53/2024/QH15, Điều 37: a foreign victim does not receive hardship_allowance"
    )


def test_law_53_2024_art_37_3_a_person_being_identified_abroad_gets_points_a_to_d_only() -> None:
    person = new_regime(status="being_identified", identified_on=None, abroad=True,
                        accompanying_minors=1)  # fmt: skip
    for who in (PERSON, "minor-1"):
        for kind in (Kind.SHELTER_MEALS, Kind.CLOTHING, Kind.MEDICAL_CARE):
            assert decide(person, request(kind=kind, beneficiary=who, granted_on=NEW_DAY)).eligible
        for kind in (Kind.LEGAL_AID, Kind.TRAVEL_FARE, Kind.PSYCHOLOGICAL_COUNSELLING):
            found = codes(decide(person, request(kind=kind, beneficiary=who, granted_on=NEW_DAY)))
            assert found == {"group.being_identified_abroad" if who == PERSON
                             else "group.accompanying_minor_abroad"}, (who, kind)  # fmt: skip
    at_home = new_regime(status="being_identified", identified_on=None)
    assert decide(at_home, request(kind=Kind.LEGAL_AID, granted_on=NEW_DAY)).eligible


def test_law_53_2024_art_37_health_insurance_for_the_first_year_and_only_without_it() -> None:
    def insure(case: Facts, on: date = NEW_DAY, **declared: bool) -> GrantDecision:
        return decide(case, request(kind=Kind.HEALTH_INSURANCE, granted_on=on, declared=declared))

    person = new_regime()
    assert insure(person, insured=False).eligible
    assert codes(insure(person, insured=True)) == {"condition.uninsured"}
    assert codes(insure(person)) == {"declaration.required"}
    assert insure(person, date(2026, 8, 5), insured=False).eligible  # the year's last day
    assert codes(insure(person, date(2026, 8, 6), insured=False)) == {"condition.first_year"}
    held = new_regime(granted={(PERSON, Kind.HEALTH_INSURANCE): Granted(1, NEW_DAY)})
    assert codes(insure(held, insured=False)) == {"cap.exhausted"}


@pytest.mark.parametrize("kind", [Kind.TRAVEL_FARE, Kind.ROAD_MEALS])
def test_law_53_2024_art_37_travel_and_road_meals_only_for_a_person_unable_to_pay(
    kind: Kind,
) -> None:
    def travel(**declared: bool) -> GrantDecision:
        return decide(new_regime(), request(kind=kind, granted_on=NEW_DAY, declared=declared))

    assert travel(unable_to_pay=True).eligible
    assert codes(travel(unable_to_pay=False)) == {"condition.unable_to_pay"}
    missing = travel()
    assert [(r.rule, r.field) for r in missing.refusals] == [
        ("declaration.required", "declared.unable_to_pay")
    ]


def test_law_53_2024_art_37_shelter_meals_only_during_a_stay_at_a_facility() -> None:
    def meals(**declared: bool) -> GrantDecision:
        return decide(new_regime(), request(kind=Kind.SHELTER_MEALS, granted_on=NEW_DAY,
                                            declared=declared))  # fmt: skip

    assert meals(in_facility=True).eligible
    assert codes(meals(in_facility=False)) == {"condition.in_facility"}
    assert codes(meals()) == {"declaration.required"}


def test_the_entitlements_list_what_a_grant_must_declare_and_why_a_kind_is_refused() -> None:
    assessed = {(a.beneficiary, a.kind): a for a in entitlements(RULES, new_regime(), NEW_DAY)}
    road = assessed[(PERSON, Kind.ROAD_MEALS)]
    assert road.eligible
    assert [(r.rule, r.field) for r in road.requires] == [
        ("declaration.unable_to_pay", "declared.unable_to_pay")
    ]
    foreign = {a.kind: a for a in entitlements(RULES, new_regime(legal_status="foreign"), NEW_DAY)}
    assert [r.rule for r in foreign[Kind.HARDSHIP_ALLOWANCE].refusals] == ["group.foreign_victim"]


@settings(max_examples=300, deadline=None)
@given(
    regime=st.sampled_from([OLD, NEW]),
    status=st.sampled_from(["received", "being_identified", "identified"]),
    abroad=st.booleans(),
    kind=st.sampled_from(list(Kind)),
    minor=st.booleans(),
    province=st.sampled_from(AREAS),
)
def test_a_foreign_person_never_receives_education_training_or_the_hardship_allowance(
    regime: dict[str, date], status: str, abroad: bool, kind: Kind, minor: bool,
    province: tuple[str, str],
) -> None:  # fmt: skip
    """Decree 09/2013 Art. 23 and Law 53/2024 Art. 37(4), for any case of a foreigner."""
    identified = regime["identified_on"] if status == "identified" else None
    person = facts(**(regime | {"identified_on": identified}), status=status, abroad=abroad,
                   legal_status="foreign", age=15, accompanying_minors=1,
                   province=province[0], legacy_province=province[1])  # fmt: skip
    day = regime["identified_on"] + timedelta(days=5)
    decision = decide(person, request(kind=kind, granted_on=day,
                                      beneficiary="minor-1" if minor else PERSON))  # fmt: skip
    if kind in (Kind.EDUCATION, Kind.VOCATIONAL_TRAINING, Kind.HARDSHIP_ALLOWANCE):
        assert not decision.eligible
        assert any(r.rule.startswith("group.foreign") for r in decision.refusals)
    if regime is NEW and kind in FOREIGN_REFUSED:
        assert not decision.eligible


def test_decree_09_2013_art_23_is_the_reason_a_province_refuses_a_foreign_victim() -> None:
    """A provincial resolution sets the amount; who receives it is Decree 09's to say."""
    asked = request(kind=Kind.HARDSHIP_ALLOWANCE, amount=None)
    decision = decide(facts(legal_status="foreign"), asked)
    (refusal,) = decision.refusals
    assert (refusal.rule, refusal.field) == ("group.foreign_victim", "kind")
    assert refusal.message == (
        "Nghị định 09/2013/NĐ-CP, Điều 23: a foreign victim does not receive hardship_allowance"
    )


def test_an_event_from_before_intake_coded_the_legal_status_still_places_the_person() -> None:
    assert (legal_status_of("VN"), legal_status_of("LA"), legal_status_of(None)) == (
        "vietnamese", "foreign", None
    )  # fmt: skip


def test_civil_code_art_148_the_first_year_ends_on_the_next_working_day_after_a_weekend() -> None:
    """Identified on Saturday 2025-03-08: the year's corresponding day, Sunday 2026-03-08, rolls
    to Monday 2026-03-09 for the 12-month window and the first year alike."""
    person = new_regime(identified_on=date(2025, 3, 8))
    assert within_a_year(person, date(2026, 3, 9))
    assert not within_a_year(person, date(2026, 3, 10))
