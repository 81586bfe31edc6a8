"""Projections: every event archived once and projected in arrival order gives the form a plain
recount of the deduplicated events gives, whatever the redeliveries and however late the
business dates; and the projections rebuilt from the archive give it again."""

from datetime import date

import pytest
from hypothesis import HealthCheck, given, note, settings

from services.stats.domain import named_period as period
from shared.db import Database
from shared.events.verification import VerificationOpened
from tests.services.stats.deliveries import (
    LOAN,
    PERIODS,
    PROVINCE,
    Open,
    Sent,
    activity,
    amended,
    approved,
    consume,
    disbursed,
    empty,
    facts_of,
    forms,
    granted,
    identified,
    merged,
    nonzero,
    not_identified,
    ordered,
    rebuild_in_place,
    received,
    referred,
    rejected,
    replay_archive,
    rows_after,
    sent,
)
from tests.services.stats.histories import histories
from tests.services.stats.recount import count_form, recount_of


@pytest.mark.timeout(420)  # passing takes seconds; shrinking a failure can take five minutes
@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=histories)
async def test_the_projected_form_equals_a_recount_and_a_rebuild_from_the_archive(
    events: list[Sent], two_databases: tuple[Database, Database]
) -> None:
    note("\n".join(f"{e.event_id} {e.type} {e.data}" for e in events))
    live, rebuilt = two_databases
    await empty(live, rebuilt)
    news = await consume(live, events, batch=True)
    assert sum(news) == len({event.event_id for event in events})
    incremental = await forms(live)
    assert await replay_archive(live, rebuilt) == sum(news)
    assert await forms(rebuilt) == incremental
    assert await facts_of(rebuilt) == await facts_of(live)
    await rebuild_in_place(live)
    assert await forms(live) == incremental
    recount = recount_of(events)
    for chosen, theirs in zip(PERIODS, incremental, strict=True):
        assert nonzero(theirs) == nonzero(count_form(chosen, recount)), chosen.name


# --- examples, on SQLite and PostgreSQL ---------------------------------------------------------


async def test_a_redelivered_event_is_archived_once_and_changes_nothing(
    open_database: Open,
) -> None:
    database = await open_database()
    case = sent(received("case-1"))
    grant = sent(granted("case-1", "g-1", "clothing", date(2026, 2, 1), "pending_approval"))
    approval = sent(approved("case-1", "g-1", "clothing", date(2026, 2, 2)))
    decision = sent(identified("case-1", date(2026, 2, 3)))
    amendment = sent(amended("case-1", "not_victim", date(2026, 5, 1)))
    history = [case, grant, approval, decision, amendment, case, grant, decision, approval]
    assert await consume(database, history) == [True] * 5 + [False] * 4
    (rows,) = await forms(database, [period("2026")])
    assert nonzero(rows) == {"I.1": 1, "II.4.1": 1, "II.4.2": 1}


async def test_an_amended_identification_moves_the_person_to_the_period_of_the_new_date(
    open_database: Open,
) -> None:
    database = await open_database()
    await consume(database, [sent(received("case-1")),
                             sent(identified("case-1", date(2026, 3, 20))),
                             sent(amended("case-1", "victim", date(2026, 4, 2)))])  # fmt: skip
    first, second = await forms(database, [period("2026-Q1"), period("2026-Q2")])
    assert (first["I.1"], first["I.2"], first["I.2.a.female"]) == (1, 0, 0)
    assert (second["I.1"], second["I.2"], second["I.2.a.female"]) == (0, 1, 1)


async def test_an_amendment_to_not_a_victim_takes_the_person_out_of_i2_only(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, received("case-1"),
                            identified("case-1", date(2026, 2, 1)),
                            amended("case-1", "not_victim", date(2026, 3, 1)))  # fmt: skip
    assert rows == {"I.1": 1}


async def test_a_person_not_identified_and_later_amended_to_a_victim_counts_in_i2(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, received("case-1"),
                            not_identified("case-1", date(2026, 2, 1)),
                            amended("case-1", "victim", date(2027, 1, 5), "not_victim"),
                            at="2027")  # fmt: skip
    assert rows == {"I.2": 1, "I.2.a.female": 1, "I.2.b.kinh": 1, "I.2.d.abroad": 1,
                    "I.2.d.abroad.CN": 1, "I.2.e.rescued": 1}  # fmt: skip


async def test_corrections_at_identification_replace_the_scope_and_destination(
    open_database: Open,
) -> None:
    rows = await rows_after(open_database, received("case-1"), received("case-2"),
                            identified("case-1", date(2026, 2, 1), destination_country="KR"),
                            identified("case-2", date(2026, 2, 1), scope="domestic"))  # fmt: skip
    assert rows["I.2.d.abroad"] == rows["I.2.d.abroad.other"] == 1
    assert rows["I.2.d.domestic"] == 1
    assert "I.2.d.abroad.CN" not in rows


async def test_a_merged_duplicate_counts_once_with_what_was_done_for_it_and_the_kept_case(
    open_database: Open,
) -> None:
    """Issue 12: the duplicate's protection order and support count for the kept case."""
    rows = await rows_after(open_database, received("case-1"), received("case-2"),
                            identified("case-2", date(2026, 2, 1)),
                            ordered("case-2", "o-2", date(2026, 2, 2), 1, 2),
                            granted("case-2", "g-2", "legal_aid", date(2026, 2, 2)),
                            merged("case-2", into="case-1"),
                            identified("case-1", date(2026, 2, 5)),
                            ordered("case-1", "o-1", date(2026, 2, 6), 1))  # fmt: skip
    assert rows["I.1"] == rows["I.2"] == rows["I.2.a.female"] == 1
    assert (rows["I.3"], rows["II.4.1"], rows["II.4.4.legal_aid"]) == (1 + 3, 1, 1)


async def test_a_grant_awaiting_approval_counts_once_approved_and_never_if_rejected(
    open_database: Open,
) -> None:
    day = date(2026, 2, 1)
    waiting = await rows_after(
        open_database,
        received("case-1"),
        granted("case-1", "g-1", "education", day, "pending_approval"),
    )
    assert waiting.get("II.4.1", 0) == 0
    yes = await rows_after(
        open_database,
        received("case-1"),
        granted("case-1", "g-1", "education", day, "pending_approval"),
        approved("case-1", "g-1", "education", date(2027, 1, 1)),
    )
    assert (yes["II.4.1"], yes["II.4.4.education"]) == (1, 1)  # counted on the grant's date
    no = await rows_after(
        open_database,
        received("case-1"),
        granted("case-1", "g-1", "education", day, "pending_approval"),
        rejected("case-1", "g-1", "education", day),
    )
    assert no.get("II.4.1", 0) == 0


async def test_only_a_referral_to_the_social_policy_bank_counts_as_a_loan(
    open_database: Open,
) -> None:
    rows = await rows_after(
        open_database,
        received("case-1"),
        received("case-2"),
        referred("case-1", "r-1", LOAN, date(2026, 3, 1)),
        referred("case-2", "r-2", "vocational_training", date(2026, 3, 1)),
    )
    assert (rows["II.4.1"], rows["II.4.4.loan"]) == (1, 1)
    assert rows.get("II.4.4.vocational", 0) == 0


async def test_money_is_counted_by_payment_date_kind_and_funding_source(
    open_database: Open,
) -> None:
    rows = await rows_after(
        open_database, received("case-1"),
        granted("case-1", "g-1", "shelter_meals", date(2025, 12, 30)),
        disbursed("case-1", "g-1", "d-1", "shelter_meals", 600_000, date(2025, 12, 31)),
        disbursed("case-1", "g-1", "d-2", "shelter_meals", 900_000, date(2026, 1, 2),
                  "donor:IOM"),
        disbursed("case-1", "g-1", "d-3", "shelter_meals", 100_000, date(2026, 1, 3)),
    )  # fmt: skip
    assert {key: value for key, value in rows.items() if key.startswith("II.4.5")} == {
        "II.4.5.vnd": 1_000_000, "II.4.5.vnd.shelter_meals": 1_000_000,
        "II.4.5.vnd.state_budget": 100_000, "II.4.5.vnd.donor": 900_000,
    }  # fmt: skip


async def test_the_facts_of_a_province_leave_out_other_provinces(open_database: Open) -> None:
    day = date(2026, 4, 1)
    rows = await rows_after(
        open_database,
        received("case-1"),
        received("case-2", province="01"),
        activity("a-1", "training", day, sessions=1, participants=9),
        activity("a-2", "training", day, "01", sessions=5, participants=50),
    )
    assert rows == {"I.1": 1, "II.3.trainings": 1, "II.3.participants": 9}


async def test_an_event_stats_does_not_count_is_archived_and_projects_nothing(
    open_database: Open,
) -> None:
    database = await open_database()
    opened = VerificationOpened(case_id="case-1", task_id="t-1", agencies=["commune_police"],
                                level="commune", province=PROVINCE, due_on=date(2026, 2, 1),
                                legal_basis="Luật 53/2024", limit_known=True)  # fmt: skip
    assert await consume(database, [sent(opened)]) == [True]
    assert await facts_of(database) == [[], [], [], [], []]


async def test_the_projections_cleared_and_replayed_from_the_archive_give_the_same_form(
    open_database: Open,
) -> None:
    database, copy = await open_database(), await open_database()
    history = [sent(received("case-1")), sent(received("case-2", sex="male", age=15)),
               sent(identified("case-2", date(2026, 7, 1))),
               sent(granted("case-2", "g-1", "road_meals", date(2026, 7, 2), "pending_approval")),
               sent(approved("case-2", "g-1", "road_meals", date(2026, 7, 3))),
               sent(merged("case-1", "case-2")),
               sent(activity("a-1", "directive_document", date(2026, 1, 5)))]  # fmt: skip
    await consume(database, history + history[:3])
    before = await forms(database)
    assert await replay_archive(database, copy) == len(history)
    assert await rebuild_in_place(database) == len(history)
    assert await forms(database) == await forms(copy) == before
    assert nonzero(before[4]) == {
        "I.1": 1, "I.2": 1, "I.2.a.male": 1, "I.2.a.male.under18": 1, "I.2.a.male.under16": 1,
        "I.2.b.kinh": 1, "I.2.d.abroad": 1, "I.2.d.abroad.CN": 1, "I.2.e.rescued": 1, "II.1": 1,
        "II.4.1": 1, "II.4.2": 1,
    }  # fmt: skip
