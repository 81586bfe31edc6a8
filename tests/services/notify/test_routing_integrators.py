"""Which integrators hear of an event: the event types and the area each chose, beside the
agencies and each once, and none without the person's consent to information sharing."""

from collections.abc import Iterable
from typing import Any

import pytest

from services.notify.domain import INTEGRATOR, Subscriber, Target, targets
from tests.services.notify.directory import (
    DIRECTORY,
    OTHER_PROVINCE,
    OTHER_PROVINCES_WARD,
    OTHER_WARD,
    PROVINCE,
    ROUTES,
    WARD,
    agencies,
    context,
)


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
