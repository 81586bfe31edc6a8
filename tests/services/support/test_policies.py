"""The legal tables as data: a bad file stops the service, and the shipped tables say only what
their sources say."""

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.support.policies import (
    REGIME_CHANGE,
    CapUnit,
    Group,
    Kind,
    PolicyError,
    Regime,
    Unit,
    load_rules,
)

RULES = load_rules()

DOCUMENT: dict[str, Any] = {
    "id": "test-doc",
    "title": "Nghị quyết 1/2020/NQ-HĐND",
    "regime": "law-66-2011",
    "area": "national",
    "effective_from": date(2020, 1, 1),
}
RULE: dict[str, Any] = {
    "kind": "road_meals",
    "unit": "per_day",
    "amount": 100000,
    "groups": ["victim", "being_identified"],
    "article": "unknown",
}


def changed(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``base`` with ``changes``; a change to None leaves the key out."""
    return {key: value for key, value in (base | changes).items() if value is not None}


UNKNOWN_START = changed(DOCUMENT, effective_from="unknown", adopted=date(2020, 7, 10),
                        unsettled="the resolution's article on its entry into force")  # fmt: skip


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def write_policy(
    folder: Path, document: dict[str, Any], rules: list[dict[str, Any]], name: str = "10-test"
) -> Path:
    lines = ["[document]", *(f"{key} = {toml_value(v)}" for key, v in document.items())]
    for rule in rules:
        lines += ["", "[[rule]]", *(f"{key} = {toml_value(v)}" for key, v in rule.items())]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_valid_file_loads_as_rules_named_by_document_and_kind(tmp_path: Path) -> None:
    shelter = changed(RULE, kind="shelter_meals", amount="unknown", cap=3, cap_unit="months",
                      article="Điều 2", effective_to=date(2021, 12, 31))  # fmt: skip
    write_policy(tmp_path, DOCUMENT, [RULE, shelter])
    road, meals = load_rules(tmp_path)
    assert (road.id, road.document, road.regime) == ("test-doc/road_meals", "test-doc",
                                                     Regime.LAW_66_2011)  # fmt: skip
    assert (road.kind, road.unit, road.amount, road.amount_known) == (
        Kind.ROAD_MEALS, Unit.PER_DAY, 100000, True,
    )  # fmt: skip
    assert road.groups == {Group.VICTIM, Group.BEING_IDENTIFIED}
    assert road.legal_basis == "Nghị quyết 1/2020/NQ-HĐND"
    assert (road.effective_from, road.effective_to) == (date(2020, 1, 1), None)
    assert (meals.amount, meals.amount_known) == (None, False)
    assert (meals.cap, meals.cap_unit) == (3, CapUnit.MONTHS)
    assert meals.legal_basis == "Nghị quyết 1/2020/NQ-HĐND, Điều 2"
    assert meals.effective_to == date(2021, 12, 31)
    assert meals.in_force(date(2021, 12, 31))
    assert not meals.in_force(date(2022, 1, 1))
    assert not meals.in_force(date(2019, 12, 31))


@pytest.mark.parametrize(
    ("document", "rules"),
    [
        pytest.param(DOCUMENT, [changed(RULE, kind="travel_fare", unit="actual_cost")],
                     id="an amount on an actual-cost rule"),
        pytest.param(DOCUMENT, [changed(RULE, amount=None)], id="no amount on a daily rule"),
        pytest.param(DOCUMENT, [changed(RULE, amount=60000.5)], id="a fractional amount"),
        pytest.param(DOCUMENT, [changed(RULE, amount=60000.0)], id="a float amount"),
        pytest.param(DOCUMENT, [changed(RULE, amount="60000")], id="an amount written as text"),
        pytest.param(DOCUMENT, [changed(RULE, amount=0)], id="a zero amount"),
        pytest.param(DOCUMENT, [changed(RULE, amount=-60000)], id="a negative amount"),
        pytest.param(DOCUMENT, [changed(RULE, minimum=0)], id="a zero minimum"),
        pytest.param(DOCUMENT, [changed(RULE, kind="massage")], id="an unknown kind"),
        pytest.param(DOCUMENT, [changed(RULE, unit="per_week")], id="an unknown unit"),
        pytest.param(DOCUMENT, [changed(RULE, groups=["relative"])], id="an unknown group"),
        pytest.param(DOCUMENT, [changed(RULE, groups=[])], id="no group"),
        pytest.param(DOCUMENT, [changed(RULE, conditions=["rich"])], id="an unknown condition"),
        pytest.param(DOCUMENT, [changed(RULE, cap=3)], id="a cap without cap_unit"),
        pytest.param(DOCUMENT, [changed(RULE, cap_unit="days")], id="a cap_unit without cap"),
        pytest.param(DOCUMENT, [changed(RULE, rate=100000)], id="an unknown rule field"),
        pytest.param(changed(DOCUMENT, area="province"), [RULE],
                     id="a province document without province"),
        pytest.param(changed(DOCUMENT, province="01"), [RULE],
                     id="a national document with a province"),
        pytest.param(changed(DOCUMENT, area="province", province="8"), [RULE],
                     id="a province code not of two digits"),
        pytest.param(changed(DOCUMENT, regime="law-1-2000"), [RULE], id="an unknown regime"),
        pytest.param(changed(DOCUMENT, id="Test Doc"), [RULE], id="an id not in kebab case"),
        pytest.param(changed(DOCUMENT, title=None), [RULE], id="no title"),
        pytest.param(changed(DOCUMENT, effective_from=None), [RULE], id="no effective_from"),
        pytest.param(DOCUMENT, [], id="no rule"),
        pytest.param(DOCUMENT, [changed(RULE, article=None)], id="no article (say unknown)"),
        pytest.param(changed(UNKNOWN_START, adopted=None), [RULE],
                     id="an unknown start without the adoption date"),
        pytest.param(changed(UNKNOWN_START, unsettled=None), [RULE],
                     id="an unknown start without what would settle it"),
        pytest.param(changed(UNKNOWN_START, applied_from=date(2020, 7, 9)), [RULE],
                     id="applied before its adoption"),
        pytest.param(changed(DOCUMENT, adopted=date(2020, 1, 2)), [RULE],
                     id="in force before its adoption"),
        pytest.param(changed(DOCUMENT, applied_from=date(2020, 1, 2)), [RULE],
                     id="applied_from with a known start"),
        pytest.param(UNKNOWN_START, [changed(RULE, effective_from=date(2020, 7, 9))],
                     id="a rule starting before its document"),
        pytest.param(DOCUMENT, [RULE, changed(RULE, amount=90000)],
                     id="duplicate kinds in a document"),
    ],
)  # fmt: skip
def test_a_bad_policy_file_is_refused(
    tmp_path: Path, document: dict[str, Any], rules: list[dict[str, Any]]
) -> None:
    write_policy(tmp_path, document, rules)
    with pytest.raises(PolicyError):
        load_rules(tmp_path)


def test_a_document_with_an_unknown_start_applies_from_adoption_or_the_day_chosen(
    tmp_path: Path,
) -> None:
    write_policy(tmp_path, UNKNOWN_START, [RULE], name="10-adopted")
    later = changed(UNKNOWN_START, id="later", applied_from=date(2020, 7, 20))
    write_policy(tmp_path, later, [RULE], name="11-later")
    adopted, chosen = load_rules(tmp_path)
    assert (adopted.effective_from, adopted.start_known) == (date(2020, 7, 10), False)
    assert (chosen.effective_from, chosen.start_known) == (date(2020, 7, 20), False)
    assert chosen.start_note is not None
    assert "entry into force" in chosen.start_note


def test_the_same_document_id_in_two_files_is_refused(tmp_path: Path) -> None:
    write_policy(tmp_path, DOCUMENT, [RULE], name="10-one")
    write_policy(tmp_path, DOCUMENT, [RULE], name="11-two")
    with pytest.raises(PolicyError):
        load_rules(tmp_path)


def test_a_file_that_is_not_toml_is_refused_and_named(tmp_path: Path) -> None:
    write_policy(tmp_path, DOCUMENT, [RULE])
    (tmp_path / "20-broken.toml").write_text("[document\nid = ", encoding="utf-8")
    with pytest.raises(PolicyError, match=re.escape("20-broken.toml")):
        load_rules(tmp_path)


def test_a_folder_without_policy_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# nothing here\n", encoding="utf-8")
    with pytest.raises(PolicyError):
        load_rules(tmp_path)


def test_the_regime_changes_when_law_53_2024_comes_into_force() -> None:
    assert date(2025, 7, 1) == REGIME_CHANGE


def test_the_shipped_tables_are_the_seven_documents_at_hand() -> None:
    assert {rule.document for rule in RULES} == {
        "decree-09-2013", "circular-84-2019", "ha-giang-15-2020", "phu-yen-05-2020",
        "khanh-hoa-05-2020", "dien-bien-37-2020", "decree-162-2025",
    }  # fmt: skip


def test_every_shipped_rule_names_its_legal_basis() -> None:
    for rule in RULES:
        assert re.search(r"\d+/\d{4}", rule.legal_basis), rule.id


@pytest.mark.parametrize("document", ["decree-162-2025", "dien-bien-37-2020"])
def test_no_amount_is_invented_where_the_sources_give_none(document: str) -> None:
    rules = [rule for rule in RULES if rule.document == document]
    assert rules
    for rule in rules:
        assert rule.amount is None, rule.id
        assert rule.cap is None or rule.cap_unit is not None
        if rule.unit is not Unit.ACTUAL_COST:
            assert not rule.amount_known, rule.id


def test_ha_giang_pays_what_its_resolution_sets() -> None:
    amounts = {rule.kind: rule.amount for rule in RULES if rule.document == "ha-giang-15-2020"}
    assert amounts == {
        Kind.SHELTER_MEALS: 60000,
        Kind.ROAD_MEALS: 100000,
        Kind.HARDSHIP_ALLOWANCE: 3000000,
        Kind.CLOTHING: 500000,
        Kind.MEDICINE: 200000,
    }


def test_ha_giang_applies_to_the_communes_of_former_ha_giang_in_tuyen_quang() -> None:
    for rule in RULES:
        if rule.document == "ha-giang-15-2020":
            assert (rule.province, rule.legacy_province) == ("08", "02")
            assert rule.regime is Regime.LAW_66_2011


def test_law_80_2015_art_151_circular_84_2019_sets_a_floor_from_45_days_after_signing() -> None:
    """Signed 2019-11-27; a central document takes effect no earlier than 45 days after."""
    (road,) = [r for r in RULES if r.id == "circular-84-2019/road_meals"]
    assert (road.minimum, road.province, road.effective_from) == (70000, None, date(2020, 1, 11))
    assert date(2019, 11, 27) + timedelta(days=45) == road.effective_from
    assert not road.start_known
    assert road.start_note is not None
    assert "2019-11-27" in road.start_note


def test_decree_09_2013_caps_shelter_meals_at_60_days_until_circular_84_2019_applies() -> None:
    (meals,) = [r for r in RULES if r.id == "decree-09-2013/shelter_meals"]
    assert (meals.cap, meals.cap_unit, meals.effective_to) == (60, CapUnit.DAYS, date(2020, 1, 10))
