"""Order and duplicates: whatever order a case's events arrive in, and however often, stats
projects the same facts and counts the same form. Each event sets only the facts it owns,
whichever event of a case comes first creates its row, the latest identification decision is
the latest by its own date and revision, and what was done for a merged duplicate counts for
the case it was merged into (through chains of merges), the person once."""

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from services.stats import store
from services.stats.domain import absorbed, kept
from services.stats.domain import named_period as period
from shared.db import Database
from tests.services.stats.deliveries import (
    EPOCH,
    PERIODS,
    Open,
    Sent,
    amended,
    approved,
    consume,
    empty,
    forms,
    granted,
    identified,
    merged,
    nonzero,
    ordered,
    overdue,
    rebuild_in_place,
    received,
    referred,
    rejected,
    rows_after,
    sent,
    state_of,
)
from tests.services.stats.histories import histories

FEB, MAR = date(2026, 2, 1), date(2026, 3, 1)


# --- defect 1: out-of-order case events lost facts ----------------------------------------------


async def test_an_identification_that_arrives_before_the_reception_is_kept(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, identified("case-1", FEB), received("case-1"))
    assert (rows["I.1"], rows.get("I.2"), rows.get("I.2.a.female")) == (1, 1, 1)


async def test_a_merge_that_arrives_before_the_reception_keeps_the_duplicate_out(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, received("case-1"), merged("case-2", "case-1"),
                            received("case-2"))  # fmt: skip
    assert rows == {"I.1": 1}


async def test_an_overdue_verification_that_arrives_before_the_reception_is_counted(
    open_database: Open,
) -> None:
    database = await open_database()
    await consume(database, [sent(overdue("case-1")), sent(received("case-1"))])
    async with database.reading() as session:
        assert await store.verifications(session, "11") == (1, 1)


async def test_an_approval_that_arrives_before_its_grant_counts_the_grant(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, received("case-1"),
                            approved("case-1", "g-1", "education", MAR),
                            granted("case-1", "g-1", "education", FEB, "pending_approval"),
                            rejected("case-1", "g-2", "clothing", MAR),
                            granted("case-1", "g-2", "clothing", FEB,
                                    "pending_approval"))  # fmt: skip
    assert (rows.get("II.4.1"), rows.get("II.4.4.education"), rows.get("II.4.2")) == (1, 1, None)


async def test_the_latest_decision_is_the_latest_by_its_date_not_by_arrival(
    open_database: Open,
) -> None:
    rows = await rows_after(
        open_database,
        received("case-1"),
        amended("case-1", "not_victim", MAR),
        identified("case-1", FEB),
    )
    assert rows == {"I.1": 1}


async def test_two_decisions_on_one_day_follow_their_revision_not_their_arrival(
    open_database: Open,
) -> None:
    database = await open_database()
    await consume(database, [
        sent(received("case-1")),
        sent(amended("case-1", "victim", MAR, "not_victim", destination_country="KR"),
             revision=3),
        sent(amended("case-1", "not_victim", MAR), revision=2),
        sent(identified("case-1", MAR, destination_country="TH"), revision=1),
    ])  # fmt: skip
    (rows,) = [{k: v for k, v in form.items() if v} for form in await _year(database)]
    assert (rows.get("I.2"), rows.get("I.2.d.abroad.other"), rows.get("I.2.d.abroad.TH")) == (
        1, 1, None)  # fmt: skip


async def test_without_a_revision_two_decisions_on_one_day_follow_their_event_time(
    open_database: Open,
) -> None:
    database = await open_database()
    later = EPOCH + timedelta(hours=1)
    await consume(database, [sent(received("case-1")),
                             sent(amended("case-1", "not_victim", MAR), time=later),
                             sent(identified("case-1", MAR), time=EPOCH)])  # fmt: skip
    (rows,) = await _year(database)
    assert (rows["I.1"], rows["I.2"]) == (1, 0)


async def _year(database: Database) -> list[dict[str, int]]:
    return await forms(database, [period("2026")])


# --- defect 2: what was done for a duplicate counts for the case it was merged into ----------


async def test_protection_and_support_of_a_duplicate_count_for_the_kept_case_once(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, received("case-1"), received("case-2"),
                            ordered("case-2", "o-2", FEB, 1, 2),
                            granted("case-2", "g-2", "legal_aid", FEB),
                            granted("case-1", "g-1", "legal_aid", MAR),
                            merged("case-2", into="case-1"),
                            ordered("case-1", "o-1", MAR, 1))  # fmt: skip
    assert (rows["I.1"], rows["I.3"], rows["II.4.1"], rows["II.4.4.legal_aid"]) == (1, 4, 1, 1)


async def test_a_chain_of_merges_arriving_first_leads_to_the_case_kept_at_its_end(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, merged("case-3", "case-2"),
                            referred("case-3", "r-3", "social_policy_bank_loan", FEB),
                            ordered("case-3", "o-3", FEB, 2), merged("case-2", "case-1"),
                            received("case-3"), received("case-1"), received("case-2"))  # fmt: skip
    assert rows == {"I.1": 1, "I.3": 2, "II.4.1": 1, "II.4.4.loan": 1}


async def test_a_duplicate_from_another_province_counts_where_the_kept_case_is(
    open_database: Open,
) -> None:
    database = await open_database()
    await consume(database, [sent(received("case-1")), sent(received("case-2", province="01")),
                             sent(granted("case-2", "g-2", "education", FEB)),
                             sent(merged("case-2", "case-1"))])  # fmt: skip
    here, national, there = [
        nonzero((await forms(database, [period("2026")], province))[0])
        for province in ("11", None, "01")
    ]
    assert here == national == {"I.1": 1, "II.4.1": 1, "II.4.4.education": 1}
    assert there == {}


# --- the property -------------------------------------------------------------------------------


@st.composite
def disordered(draw: st.DrawFn) -> tuple[list[Sent], list[Sent]]:
    """A history once each in order, and the same events in any order, any of them repeated."""
    events = draw(histories)
    once = list({event.event_id: event for event in events}.values())
    again = draw(st.lists(st.sampled_from(once), max_size=8)) if once else []
    return once, draw(st.permutations(once + again))


@pytest.mark.timeout(420)  # passing takes seconds; shrinking a failure can take five minutes
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(deliveries=disordered())
async def test_any_order_with_any_duplicates_gives_the_same_projections_and_form(
    deliveries: tuple[list[Sent], list[Sent]], two_databases: tuple[Database, Database]
) -> None:
    once, shuffled = deliveries
    note("\n".join(f"{e.event_id} {e.type} {e.data}" for e in shuffled))
    in_order, disorder = two_databases
    await empty(in_order, disorder)
    await consume(in_order, once, batch=True)
    await consume(disorder, shuffled, batch=True)
    expected = await state_of(in_order)
    assert await state_of(disorder) == expected
    assert await forms(disorder, PERIODS) == await forms(in_order, PERIODS)
    assert await forms(disorder, PERIODS, None) == await forms(in_order, PERIODS, None)
    await rebuild_in_place(disorder)  # the archive replayed in its own (arrival) order
    assert await state_of(disorder) == expected


def test_a_chain_of_merges_ends_at_the_kept_case_and_a_loop_ends_too() -> None:
    merges = {"case-3": "case-2", "case-2": "case-1", "loop-a": "loop-b", "loop-b": "loop-a"}
    assert [kept(case, merges) for case in ("case-3", "case-2", "case-1")] == ["case-1"] * 3
    assert kept("loop-a", merges) in ("loop-a", "loop-b")  # never twice round: no hang
    assert absorbed(["case-1"], merges) == {"case-1", "case-2", "case-3"}


async def test_a_duplicate_identified_before_its_merge_counts_the_kept_person_identified(
    open_database: Open,
) -> None:
    """The person once, as the kept case describes them, identified by the latest decision
    made on either case."""
    rows = await rows_after(open_database, received("case-1"), received("case-2", sex="male"),
                            identified("case-2", FEB), merged("case-2", "case-1"))  # fmt: skip
    assert (rows["I.1"], rows.get("I.2"), rows.get("I.2.a.female")) == (1, 1, 1)
    later = await rows_after(open_database, received("case-1"), received("case-2"),
                             identified("case-2", MAR), merged("case-2", "case-1"),
                             amended("case-1", "not_victim", FEB))  # fmt: skip
    assert later.get("I.2") == 1  # case-2's decision is the later one
