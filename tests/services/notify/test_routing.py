"""Who hears of an event: the shipped routing rules, one rule at a time, on a small directory of
agencies in Xã Mường Phăng (ward 03325), Điện Biên (province 11), beside agencies of another
commune, another province and the nation that must hear nothing; integrators' subscriptions; and
routing files that cannot be trusted."""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notify.domain import (
    INTEGRATOR,
    PERSON,
    PROVIDER,
    Agency,
    AgencyKind,
    Level,
    Recipient,
    Route,
    RoutingError,
    Subscriber,
    Target,
    load_routes,
    parse_choices,
    targets,
)

ROOT = Path(__file__).resolve().parents[3]
ROUTES = load_routes(ROOT / "services/notify/routes.toml")
PROVINCE, WARD = "11", "03325"  # Điện Biên, Xã Mường Phăng
OTHER_WARD = "03334"  # another commune of Điện Biên
OTHER_PROVINCE, OTHER_PROVINCES_WARD = "12", "03390"  # Lai Châu
SHELTER = "Nhà tạm lánh Hoa Ban"
CASE_ID = "c-0001"


def agency(agency_id: str, kind: AgencyKind | str, province: str | None, ward: str | None = None,
           name: str = "", **changes: Any) -> Agency:  # fmt: skip
    values = {"emails": (f"{agency_id}@example.vn",)} | changes
    return Agency(agency_id, name or agency_id, str(kind), province, ward, **values)


K = AgencyKind
HERE = [  # the case's commune, and its province at provincial level
    agency("cp-mp", K.COMMUNE_POLICE, PROVINCE, WARD, phones=("+84 200 000 001",)),
    agency("cc-mp", K.COMMUNE_COMMITTEE, PROVINCE, WARD),
    agency("wu-mp", K.WOMENS_UNION, PROVINCE, WARD),
    agency("wu-11", K.WOMENS_UNION, PROVINCE),
    agency("pp-11", K.PROVINCIAL_POLICE, PROVINCE, language="en"),
    agency("bg-11", K.BORDER_GUARD, PROVINCE),
    agency("sp-11", K.SOCIAL_PROTECTION, PROVINCE),
    agency("cpr-11", K.CHILD_PROTECTION, PROVINCE, name="Trung tâm CTXH Điện Biên"),
    agency("ngo-11", K.NGO, PROVINCE, name=SHELTER, webhooks=("https://hoaban.example/hook",)),
]
OTHER_COMMUNE = [
    agency(f"{kind}-x", kind, PROVINCE, OTHER_WARD)
    for kind in (K.COMMUNE_POLICE, K.COMMUNE_COMMITTEE, K.WOMENS_UNION, K.CHILD_PROTECTION)
]
OTHER_PROVINCE_AGENCIES = [
    agency("pp-12", K.PROVINCIAL_POLICE, OTHER_PROVINCE),
    agency("bg-12", K.BORDER_GUARD, OTHER_PROVINCE),
    agency("sp-12", K.SOCIAL_PROTECTION, OTHER_PROVINCE),
    agency("cpr-12", K.CHILD_PROTECTION, OTHER_PROVINCE),
    agency("wu-12", K.WOMENS_UNION, OTHER_PROVINCE),
    agency("cp-12", K.COMMUNE_POLICE, OTHER_PROVINCE, OTHER_PROVINCES_WARD),
    agency("cc-12", K.COMMUNE_COMMITTEE, OTHER_PROVINCE, OTHER_PROVINCES_WARD),
    agency("ngo-12", K.NGO, OTHER_PROVINCE, name=SHELTER),  # the same name, elsewhere
]
NATIONAL = [agency("sp-vn", K.SOCIAL_PROTECTION, None), agency("cpr-vn", K.CHILD_PROTECTION, None)]
ELSEWHERE = OTHER_COMMUNE + OTHER_PROVINCE_AGENCIES + NATIONAL
DIRECTORY = HERE + ELSEWHERE


def route(route_id: str) -> list[Route]:
    (found,) = [r for r in ROUTES if r.id == route_id]
    return [found]


def context(**changes: Any) -> dict[str, Any]:
    return {"case_id": CASE_ID, "province": PROVINCE, "ward": WARD} | changes


def found(
    routes: Iterable[Route], event: str, directory: Iterable[Agency] = DIRECTORY, **changes: Any
) -> list[Target]:
    return targets(routes, event, context(**changes), directory)


def agencies(found_targets: Iterable[Target]) -> set[str]:
    """The agencies reached, by id (``agency:<id>:<channel>:<address>``)."""
    keys = [t.recipient_key.split(":") for t in found_targets]
    return {key[1] for key in keys if key[0] == "agency"}


def without(*agency_ids: str) -> list[Agency]:
    return [a for a in DIRECTORY if a.agency_id not in agency_ids]


# --- the shipped file ---------------------------------------------------------------------------


def test_the_shipped_routes_load_with_unique_ids() -> None:
    assert len({r.id for r in ROUTES}) == len(ROUTES) == 11
    assert {r.event for r in ROUTES} == {
        "case.received", "verification.reminder_due", "verification.overdue", "case.identified",
        "protection.ordered", "support.referred", "referral.accepted", "support.granted",
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


# --- integrators --------------------------------------------------------------------------------


def subscriber(
    subscription_id: str = "sub-1",
    events: Iterable[str] = ("*",),
    province: str | None = None,
    ward: str | None = None,
) -> Subscriber:
    return Subscriber(subscription_id, f"https://{subscription_id}.example/events",
                      frozenset(events), province, ward)  # fmt: skip


def integrators(event: str, subscribers: Iterable[Subscriber], **changes: Any) -> set[str]:
    shared = context(consent_information_sharing=True) | changes
    reached = targets(ROUTES, event, shared, DIRECTORY, subscribers)
    return {t.name for t in reached if t.recipient == INTEGRATOR}


def test_an_integrator_gets_the_event_as_a_signed_webhook_in_english() -> None:
    reached = targets([], "case.closed", context(consent_information_sharing=True), [],
                      [subscriber()])  # fmt: skip
    assert reached == [Target("subscription:sub-1", INTEGRATOR, "sub-1", "webhook",
                              "https://sub-1.example/events", "en")]  # fmt: skip


@pytest.mark.parametrize(
    ("events", "event", "hears"),
    [
        (["*"], "case.received", True),
        (["*"], "case.closed", True),
        (["case.received"], "case.received", True),
        (["case.received", "case.identified"], "case.identified", True),
        (["case.received"], "case.identified", False),
        ([], "case.received", False),
    ],
)
def test_an_integrator_hears_the_event_types_it_chose(
    events: list[str], event: str, hears: bool
) -> None:
    assert integrators(event, [subscriber(events=events)]) == ({"sub-1"} if hears else set())


@pytest.mark.parametrize(
    ("province", "ward", "hears"),
    [
        (None, None, True),
        (PROVINCE, None, True),
        (PROVINCE, WARD, True),
        (None, WARD, True),
        (PROVINCE, OTHER_WARD, False),
        (OTHER_PROVINCE, None, False),
        (OTHER_PROVINCE, OTHER_PROVINCES_WARD, False),
    ],
)
def test_an_integrator_hears_of_cases_in_the_area_it_chose(
    province: str | None, ward: str | None, hears: bool
) -> None:
    chosen = subscriber(province=province, ward=ward)
    assert integrators("case.received", [chosen]) == ({"sub-1"} if hears else set())


def test_no_integrator_hears_of_a_suspected_duplicate_which_names_another_case() -> None:
    chosen = [subscriber("all"), subscriber("named", ["case.duplicate_suspected"]),
              subscriber("province", province=PROVINCE)]  # fmt: skip
    assert integrators("case.duplicate_suspected", chosen) == set()
    assert integrators("case.received", chosen) == {"all", "province"}


def test_an_area_subscription_hears_nothing_of_a_case_without_an_area() -> None:
    chosen = [subscriber("all"), subscriber("province", province=PROVINCE),
              subscriber("ward", province=PROVINCE, ward=WARD)]  # fmt: skip
    assert integrators("case.received", chosen, province=None, ward=None) == {"all"}
    assert integrators("case.received", chosen, ward=None) == {"all", "province"}


@pytest.mark.parametrize("consent", [False, None, "yes", 1])
def test_without_consent_to_information_sharing_no_integrator_hears_of_the_case(
    consent: object,
) -> None:
    """Unknown consent (the case not received yet, or merged at intake) is no consent."""
    chosen = [subscriber("all"), subscriber("province", province=PROVINCE)]
    for event in ("case.received", "case.identified", "support.granted", "case.merged"):
        assert integrators(event, chosen, consent_information_sharing=consent) == set()
    reached = targets(ROUTES, "case.received", context(consent_information_sharing=consent),
                      DIRECTORY, chosen)  # fmt: skip
    assert agencies(reached) == {"cp-mp", "cc-mp", "sp-11"}  # agencies act on the case


def test_integrators_are_reached_beside_the_agencies_each_once() -> None:
    chosen = [subscriber("a"), subscriber("b", ["case.received"]), subscriber("a")]
    reached = targets(ROUTES, "case.received", context(consent_information_sharing=True),
                      DIRECTORY, chosen)  # fmt: skip
    assert agencies(reached) == {"cp-mp", "cc-mp", "sp-11"}
    assert sorted(t.recipient_key for t in reached if t.recipient == INTEGRATOR) == [
        "subscription:a", "subscription:b"
    ]  # fmt: skip


# --- routing files that cannot be trusted -------------------------------------------------------

GOOD = """
[[route]]
id = "received-commune"
event = "case.received"
when = { child = true, reception_form = ["bilateral_handover", "rescued"] }
recipients = ["commune_police@nearest", "provider", "person", "womens_union"]
summary = "A route"
"""


def routes_from(tmp_path: Path, text: str) -> list[Route]:
    path = tmp_path / "routes.toml"
    path.write_text(text, encoding="utf-8")
    return load_routes(path)


def test_a_good_routing_file_is_read_as_written(tmp_path: Path) -> None:
    (read,) = routes_from(tmp_path, GOOD)
    assert read == Route(
        "received-commune", "case.received",
        ((Recipient(K.COMMUNE_POLICE, Level.NEAREST),), (Recipient(PROVIDER),),
         (Recipient(PERSON),), (Recipient(K.WOMENS_UNION, Level.NEAREST),)),
        {"child": True, "reception_form": ["bilateral_handover", "rescued"]},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param('"commune_police@nearest"', '"police@nearest"', id="unknown agency kind"),
        pytest.param('"commune_police@nearest"', '"commune_police@district"', id="unknown level"),
        pytest.param('"provider"', '"provider@commune"', id="a provider at a level"),
        pytest.param('"person"', '"the_person"', id="unknown recipient"),
        pytest.param('recipients = [', 'recipients = [] #', id="no recipients"),
        pytest.param('"case.received"', '"Case.Received"', id="event in capitals"),
        pytest.param('"case.received"', '"case"', id="event without a dot"),
        pytest.param('"case.received"', '"case..received"', id="event with an empty part"),
        pytest.param('"case.received"', '"case.received "', id="event with a space"),
        pytest.param('"received-commune"', '"Received Commune"', id="bad id"),
        pytest.param('summary =', 'priority = 1\nsummary =', id="unknown key in a route"),
        pytest.param('recipients =', 'recipient = ["provider"]\nrecipients =', id="misspelt key"),
        pytest.param("child = true", "child = 1.5", id="a condition of the wrong type"),
        pytest.param('id = "received-commune"', "", id="no id"),
        pytest.param('event = "case.received"', 'event = "case.received"\nevent = "x.y"',
                     id="not toml"),
        pytest.param("[[route]]", "[[route]]\n[[route]]", id="an empty route"),
        pytest.param("[[route]]", "[[routes]]", id="unknown table"),
        pytest.param("[[route]]", 'version = 2\n[[route]]', id="unknown top-level key"),
    ],
)  # fmt: skip
def test_a_routing_file_that_cannot_be_trusted_is_refused(
    tmp_path: Path, old: str, new: str
) -> None:
    assert old in GOOD
    with pytest.raises(RoutingError):
        routes_from(tmp_path, GOOD.replace(old, new, 1))


def test_route_ids_may_not_repeat(tmp_path: Path) -> None:
    other = GOOD.replace('"case.received"', '"case.identified"')
    with pytest.raises(RoutingError, match="repeat"):
        routes_from(tmp_path, GOOD + other)
    assert len(routes_from(tmp_path, GOOD + other.replace('id = "received', 'id = "other'))) == 2
