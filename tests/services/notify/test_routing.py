"""Which agencies hear of an event: the shipped routing rules, one rule at a time, on the small
directory of ``tests.services.notify.directory``; agencies of another commune, another province
and the nation hear nothing; one target per address."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notify.domain import PERSON, PROVIDER, Level, Recipient, Route, Target, parse_choices
from tests.services.notify.directory import (
    CASE_ID,
    DIRECTORY,
    ELSEWHERE,
    HERE,
    OTHER_PROVINCE,
    OTHER_PROVINCE_AGENCIES,
    OTHER_PROVINCES_WARD,
    PROVINCE,
    ROUTES,
    SHELTER,
    WARD,
    K,
    agencies,
    agency,
    found,
    route,
    without,
)

# --- the shipped file ---------------------------------------------------------------------------


def test_the_shipped_routes_load_with_unique_ids() -> None:
    assert len({r.id for r in ROUTES}) == len(ROUTES) == 15
    assert {r.event for r in ROUTES} == {
        "case.received", "verification.reminder_due", "verification.overdue", "case.identified",
        "protection.ordered", "support.referred", "referral.accepted", "support.granted",
        "application.overdue", "verification.child_return_opened",
        "verification.child_return_overdue",
    }  # fmt: skip


def test_recipients_are_read_as_a_kind_at_a_level_the_provider_or_the_person() -> None:
    assert Recipient.parse("commune_police@commune") == Recipient(K.COMMUNE_POLICE, Level.COMMUNE)
    assert Recipient.parse("womens_union") == Recipient(K.WOMENS_UNION, Level.NEAREST)
    assert Recipient.parse("provider") == Recipient(PROVIDER)
    assert Recipient.parse("person") == Recipient(PERSON)


# --- case.received ------------------------------------------------------------------------------


def test_a_received_case_reaches_the_communes_police_and_committee_and_social_protection() -> None:
    assert agencies(found(route("received-commune"), "case.received")) == {
        "cp-mp", "cc-mp", "sp-11"
    }  # fmt: skip


def test_without_police_of_its_own_a_commune_falls_back_to_the_provincial_police() -> None:
    directory = without("cp-mp")
    assert agencies(found(route("received-commune"), "case.received", directory)) == {
        "pp-11", "cc-mp", "sp-11"
    }  # fmt: skip
    # "a|b": the commune's own police when it has them, not both
    assert "pp-11" not in agencies(found(route("received-commune"), "case.received", DIRECTORY))


def test_the_commune_committee_is_the_communes_own_and_never_falls_back() -> None:
    provincial = agency("cc-11", K.COMMUNE_COMMITTEE, PROVINCE)
    directory = [*without("cc-mp"), provincial]
    assert agencies(found(route("received-commune"), "case.received", directory)) == {
        "cp-mp", "sp-11"
    }  # fmt: skip


def test_a_case_with_no_commune_goes_to_the_provinces_agencies() -> None:
    reached = agencies(found(route("received-commune"), "case.received", DIRECTORY, ward=None))
    assert reached == {"pp-11", "sp-11"}


def test_nearest_falls_back_to_the_same_kind_at_the_province() -> None:
    provincial = agency("cp-11", K.COMMUNE_POLICE, PROVINCE)
    nearest = [Route("n", "case.received", (parse_choices("commune_police@nearest"),))]
    assert agencies(found(nearest, "case.received", [provincial], ward=None)) == {"cp-11"}
    assert agencies(found(nearest, "case.received", [*DIRECTORY, provincial])) == {"cp-mp"}


@pytest.mark.parametrize(
    ("form", "reached"),
    [("bilateral_handover", {"bg-11", "pp-11"}), ("self_report", set()), (None, set())],
)
def test_a_bilateral_handover_adds_the_border_guard_and_the_provincial_police(
    form: str | None, reached: set[str]
) -> None:
    assert agencies(found(route("received-border"), "case.received", reception_form=form)) == (
        reached
    )


@pytest.mark.parametrize(("child", "reached"), [(True, {"cpr-11"}), (False, set()), (None, set())])
def test_a_child_adds_child_protection(child: bool | None, reached: set[str]) -> None:
    assert agencies(found(route("received-child"), "case.received", child=child)) == reached


def test_law_53_art_30_a_child_victims_return_task_reaches_child_protection() -> None:
    opened = found(route("child-return"), "verification.child_return_opened")
    assert agencies(opened) == {"cpr-11", "sp-11"}
    late = found(route("child-return-overdue"), "verification.child_return_overdue")
    assert agencies(late) == {"cpr-11", "sp-11"}


def test_child_protection_of_the_commune_comes_before_the_provinces() -> None:
    communes = agency("cpr-mp", K.CHILD_PROTECTION, PROVINCE, WARD)
    reached = found(route("received-child"), "case.received", [*DIRECTORY, communes], child=True)
    assert agencies(reached) == {"cpr-mp"}


def test_a_received_child_handed_over_at_the_border_reaches_every_rule_at_once() -> None:
    reached = found(ROUTES, "case.received", child=True, reception_form="bilateral_handover")
    assert agencies(reached) == {"cp-mp", "cc-mp", "sp-11", "bg-11", "pp-11", "cpr-11"}


# --- verification -------------------------------------------------------------------------------


def test_a_verification_due_soon_reminds_the_communes_police() -> None:
    assert agencies(found(route("reminder"), "verification.reminder_due")) == {"cp-mp"}


def test_an_overdue_verification_reaches_that_provinces_police_and_social_protection() -> None:
    assert agencies(found(route("overdue"), "verification.overdue")) == {"pp-11", "sp-11"}
    elsewhere = found(route("overdue"), "verification.overdue", province=OTHER_PROVINCE,
                      ward=OTHER_PROVINCES_WARD)  # fmt: skip
    assert agencies(elsewhere) == {"pp-12", "sp-12"}


# --- identification, protection, support -------------------------------------------------------


OVERDUE_APPLICATION = [*route("application-overdue"), *route("application-overdue-commune")]


@pytest.mark.parametrize(
    ("level", "reached"),
    [("commune", {"sp-11", "cc-mp"}), ("district", {"sp-11"}), ("province", {"sp-11"})],
)
def test_decree_09_art_23_an_overdue_application_reaches_the_provinces_social_protection(
    level: str, reached: set[str]
) -> None:
    """The commune chair's late stage is told to the commune's committee too."""
    assert agencies(found(OVERDUE_APPLICATION, "application.overdue", level=level)) == reached


def test_an_identified_victim_reaches_social_protection_the_womens_union_and_committee() -> None:
    assert agencies(found(route("identified"), "case.identified")) == {"sp-11", "wu-mp", "cc-mp"}
    provincial_union = found(route("identified"), "case.identified", without("wu-mp"))
    assert agencies(provincial_union) == {"sp-11", "wu-11", "cc-mp"}


def test_ordered_protection_goes_to_the_communes_police_and_committee() -> None:
    assert agencies(found(route("protection"), "protection.ordered")) == {"cp-mp", "cc-mp"}


@pytest.mark.parametrize("provider", [SHELTER, SHELTER.upper(), SHELTER.lower()])
def test_a_referral_goes_to_the_provider_it_names_whatever_the_case_of_the_name(
    provider: str,
) -> None:
    assert agencies(found(route("referred"), "support.referred", provider=provider)) == {"ngo-11"}


@pytest.mark.parametrize("provider", [None, "", "Nhà tạm lánh", "cp-12"])
def test_a_referral_to_a_provider_not_in_the_province_reaches_no_one(provider: str | None) -> None:
    changes = {} if provider is None else {"provider": provider}
    assert found(route("referred"), "support.referred", **changes) == []


def test_a_childs_referral_adds_child_protection() -> None:
    referred = route("referred") + route("referred-child")
    child = found(referred, "support.referred", provider=SHELTER, child=True)
    assert agencies(child) == {"ngo-11", "cpr-11"}
    assert agencies(found(referred, "support.referred", provider=SHELTER, child=False)) == {
        "ngo-11"
    }


def test_a_person_hears_of_an_accepted_referral_by_sms_only_with_consent() -> None:
    (person,) = found(route("referral-accepted"), "referral.accepted", consent_services=True)
    assert person == Target(f"person:{CASE_ID}:sms", PERSON, "the person", "sms", None)


@pytest.mark.parametrize("consent", [False, None, "true", 1, "yes"])
def test_without_consent_the_person_hears_nothing(consent: object) -> None:
    changes = {} if consent is None else {"consent_services": consent}
    assert found(route("referral-accepted"), "referral.accepted", **changes) == []


@pytest.mark.parametrize(
    ("status", "reached"),
    [("pending_approval", {"sp-11"}), ("approved", set()), ("granted", set()), (None, set())],
)
def test_a_grant_goes_to_social_protection_only_while_it_waits_for_approval(
    status: str | None, reached: set[str]
) -> None:
    assert agencies(found(route("grant-pending"), "support.granted", status=status)) == reached


@pytest.mark.parametrize("event", ["case.closed", "case.merged", "notification.test"])
def test_an_event_without_a_route_reaches_no_agency(event: str) -> None:
    assert found(ROUTES, event, child=True, consent_services=True, provider=SHELTER) == []


def test_a_rule_applies_to_its_own_event_only() -> None:
    assert found(route("overdue"), "verification.reminder_due") == []
    assert found(route("reminder"), "verification.overdue") == []


# --- nowhere else -------------------------------------------------------------------------------

EVENTS = sorted({r.event for r in ROUTES} | {"case.closed"})
ELSEWHERE_IDS = {a.agency_id for a in ELSEWHERE}


@settings(max_examples=300, deadline=None)
@given(
    event=st.sampled_from(EVENTS),
    child=st.none() | st.booleans(),
    form=st.sampled_from([None, "bilateral_handover", "self_report", "hotline_111"]),
    status=st.sampled_from([None, "pending_approval", "approved"]),
    consent=st.none() | st.booleans(),
    provider=st.sampled_from([None, *(a.name for a in HERE + OTHER_PROVINCE_AGENCIES)]),
    ward=st.sampled_from([WARD, None]),
)
def test_agencies_of_another_province_or_commune_never_hear_of_a_case(
    event: str,
    child: bool | None,
    form: str | None,
    status: str | None,
    consent: bool | None,
    provider: str | None,
    ward: str | None,
) -> None:
    reached = found(ROUTES, event, child=child, reception_form=form, status=status,
                    consent_services=consent, provider=provider, ward=ward)  # fmt: skip
    assert agencies(reached).isdisjoint(ELSEWHERE_IDS)
    assert all(t.recipient != PERSON or consent is True for t in reached)


# --- one target per address ---------------------------------------------------------------------


def test_an_agency_gets_one_target_per_email_phone_and_webhook() -> None:
    police = agency("cp-mp", K.COMMUNE_POLICE, PROVINCE, WARD, name="Công an xã Mường Phăng",
                    emails=("a@example.vn", "b@example.vn"), phones=("+84 200 000 001",),
                    webhooks=("https://congan.example/hook",), language="en")  # fmt: skip
    reached = found(route("reminder"), "verification.reminder_due", [police])
    assert sorted(reached, key=lambda t: t.recipient_key) == [
        Target(f"agency:cp-mp:{channel}:{address}", "commune_police", "Công an xã Mường Phăng",
               channel, address, "en")
        for channel, address in [("email", "a@example.vn"), ("email", "b@example.vn"),
                                 ("sms", "+84 200 000 001"),
                                 ("webhook", "https://congan.example/hook")]
    ]  # fmt: skip


def test_an_agency_without_addresses_gets_no_target() -> None:
    silent = agency("cp-mp", K.COMMUNE_POLICE, PROVINCE, WARD, emails=())
    assert found(route("reminder"), "verification.reminder_due", [silent]) == []


def test_recipient_keys_are_stable_whatever_the_order_of_the_routes() -> None:
    facts = {"child": True, "reception_form": "bilateral_handover"}
    first = found(ROUTES, "case.received", **facts)
    again = found(ROUTES, "case.received", **facts)
    reversed_routes = found(list(reversed(ROUTES)), "case.received", **facts)
    assert first == again
    assert sorted(first, key=str) == sorted(reversed_routes, key=str)
    assert len({t.recipient_key for t in first}) == len(first)


def test_an_agency_reached_by_two_routes_gets_each_message_once() -> None:
    referred = route("referred") + route("referred-child")
    both = found(referred, "support.referred", provider="trung tâm ctxh điện biên", child=True)
    assert [t.recipient_key for t in both] == ["agency:cpr-11:email:cpr-11@example.vn"]


def test_the_same_recipient_in_two_routes_and_the_same_address_twice_collapse() -> None:
    twice = agency("cp-mp", K.COMMUNE_POLICE, PROVINCE, WARD,
                   emails=("cp@example.vn", "cp@example.vn"))  # fmt: skip
    routes = [
        Route("a", "case.received", (parse_choices("commune_police@commune"),)),
        Route("b", "case.received", (parse_choices("commune_police@nearest"),)),
    ]
    assert [t.recipient_key for t in found(routes, "case.received", [twice])] == [
        "agency:cp-mp:email:cp@example.vn"
    ]
