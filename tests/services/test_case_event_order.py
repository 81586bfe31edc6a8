"""Property: what a service makes of a case's events is a function of the set of events, not
of their order. Any permutation of a case's history, with any duplicates, in any batches,
leaves every service that consumes the case stream — its case register, intake's view of the
case, verification's task, support's case facts, notify's recipients — exactly as the
in-order history does. Each service runs its real app, migrations and stream consumer.
"""

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from shared.events import REGISTRY
from shared.events.base import EventPayload
from shared.events.envelope import to_fields
from shared.events.intake import CaseMerged, CaseReceived, Consent
from shared.events.support import SupportGranted
from shared.events.verification import (
    CaseIdentificationAmended,
    CaseIdentified,
    CaseNotIdentified,
    Protected,
    ProtectionOrdered,
    VerificationOpened,
    VerificationOverdue,
)
from tests.services.case_consumers import (
    CASE,
    KEPT,
    MERGED_AT_INTAKE,
    PROVINCE,
    SERVICES,
    START,
    WARD,
    Delivery,
    Runner,
)

# --- a case's history, in the order it happened -------------------------------------------------


def received(case_id: str, on: date, age: int | None, consent: bool) -> CaseReceived:
    return CaseReceived(
        case_id=case_id,
        received_on=on,
        channel="commune",
        reception_form="self_returned",
        province=PROVINCE,
        ward=WARD,
        agency="Commune",
        sex="female",
        age=age,
        trafficking_scope="abroad",
        consent=Consent(services=consent, information_sharing=consent, statistics=consent),
    )


def decision(n: int, outcome: str, previous: str, on: date) -> EventPayload:
    """The case's ``n``-th decision (1 is the first; later ones amend it)."""
    if n > 1:
        return CaseIdentificationAmended(
            case_id=CASE,
            outcome=outcome,
            previous_outcome=previous,
            decided_on=on,
            evidence="QD-1",
            revision=n,
        )
    if outcome == "victim":
        return CaseIdentified(case_id=CASE, decided_on=on, evidence="QD-1", revision=1)
    return CaseNotIdentified(case_id=CASE, decided_on=on, revision=1)


@st.composite
def histories(draw: st.DrawFn) -> list[EventPayload]:
    on = draw(st.sampled_from([date(2025, 3, 3), date(2025, 8, 4)]))  # both legal regimes
    age, consent = draw(st.sampled_from([None, 15, 40])), draw(st.booleans())
    events: list[EventPayload] = [received(KEPT, on, 30, True)]
    if draw(st.booleans()):  # the same ID number at intake: merged before it was received
        events.append(
            CaseMerged(
                case_id=MERGED_AT_INTAKE,
                into=KEPT,
                method="id_number",
                province=PROVINCE,
                ward=WARD,
            )
        )
    events.append(received(CASE, on, age, consent))
    if draw(st.booleans()):
        task = VerificationOpened(
            case_id=CASE,
            task_id="task-1",
            agencies=["commune_police"],
            level="commune",
            province=PROVINCE,
            ward=WARD,
            due_on=on + timedelta(days=20),
            legal_basis="law",
            limit_known=True,
        )
        events.append(task)
        if draw(st.booleans()):
            events.append(
                VerificationOverdue(
                    case_id=CASE,
                    task_id="task-1",
                    due_on=on,
                    escalated_to="province",
                    province=PROVINCE,
                )
            )
    outcome, decided_on = "", on
    for n in range(1, draw(st.integers(0, 3)) + 1):
        previous, outcome = outcome, draw(st.sampled_from(["victim", "not_victim"]))
        decided_on += timedelta(days=draw(st.integers(0, 2)))  # amendments on one day tie
        events.append(decision(n, outcome, previous, decided_on))
    if outcome == "victim" and draw(st.booleans()):
        events.append(
            ProtectionOrdered(
                case_id=CASE,
                order_id="order-1",
                measures=["guard"],
                protected=[Protected(relation="victim", count=1)],
                starts_on=decided_on,
            )
        )
        events.append(
            SupportGranted(
                case_id=CASE,
                grant_id="grant-1",
                kind="food",
                beneficiary="person",
                group="victim",
                quantity=1,
                unit="day",
                amount=5_000_000,
                granted_on=decided_on,
                regime="2011",
                rule="r",
                legal_basis="b",
                province=PROVINCE,
                ward=WARD,
                status="pending_approval",
            )
        )
    if draw(st.booleans()):  # a reviewer confirmed it is the same person as KEPT
        events.append(
            CaseMerged(case_id=CASE, into=KEPT, method="review", province=PROVINCE, ward=WARD)
        )
    return events


def entry(position: int, payload: EventPayload) -> dict[bytes, bytes]:
    """The event as it lies on the stream; its id and time are fixed by its place in history."""
    subject = getattr(payload, "case_id", None)
    event = REGISTRY.envelope(
        payload,
        event_id=f"event-{position}",
        source="/safereturn/test",
        subject=subject,
        time=START + timedelta(minutes=position),
    )
    return {k.encode(): v.encode() for k, v in to_fields(event).items()}


@st.composite
def deliveries(draw: st.DrawFn, count: int) -> Delivery:
    repeats = draw(st.lists(st.integers(0, count - 1), max_size=count))
    order = draw(st.permutations([*range(count), *repeats]))
    return Delivery(order, draw(st.lists(st.integers(1, 5), min_size=1, max_size=6)))


@pytest.fixture(scope="module", params=list(SERVICES))
def runner(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Runner:
    # Its own Redis database: the consumer only acknowledges there, the stream is never read.
    own_redis = redis_url.rsplit("/", 1)[0] + "/3"
    return Runner(SERVICES[request.param], own_redis, tmp_path_factory.mktemp(request.param))


@pytest.mark.timeout(600)  # passing takes about a minute a service; shrinking can take longer
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_order_with_any_duplicates_leaves_the_state_the_in_order_history_leaves(
    runner: Runner, data: st.DataObject
) -> None:
    history = data.draw(histories(), label="history")
    events = [entry(n, payload) for n, payload in enumerate(history)]
    delivered = data.draw(deliveries(len(events)), label="delivery")
    note(
        "\n".join(f"{n}: {p.event_type} {p.model_dump(mode='json')}" for n, p in enumerate(history))
    )
    in_order = runner.state_after(events, Delivery(list(range(len(events))), [1]))
    assert runner.state_after(events, delivered) == in_order
