"""Writes are scoped like reads: a report or an activity about a place outside the submitter's
area is refused before anything is written, on the submissions stream as over HTTP (there: see
tests/e2e/test_area_scope.py)."""

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from services.intake.identity import admin
from services.intake.identity.domain import Client
from services.intake.reports.domain import Place, outside_area
from shared.access import Area
from tests.e2e.test_reports import report
from tests.services.intake.test_submissions_once import (
    ACTIVITY,
    Intake,
    _outcome,
    entry,
    running_intake,
)

PROVINCE, WARD, OTHER_WARD = "11", "03325", "03328"  # two communes of Điện Biên
OTHER_PROVINCE, ITS_WARD = "08", "00694"  # Tuyên Quang, and a commune of it
places = st.sampled_from(
    [Place(PROVINCE, WARD), Place(PROVINCE, OTHER_WARD), Place(PROVINCE, None),
     Place(OTHER_PROVINCE, ITS_WARD), Place(OTHER_PROVINCE, None)]
)  # fmt: skip
scopes = st.sampled_from(
    [Area(), Area(PROVINCE), Area(PROVINCE, WARD), Area(OTHER_PROVINCE),
     Area(OTHER_PROVINCE, ITS_WARD)]
)  # fmt: skip


@given(where=places, scope=scopes)
def test_a_place_is_refused_exactly_when_the_submitters_area_does_not_cover_it(
    where: Place, scope: Area
) -> None:
    refused = outside_area(where, scope)
    assert (refused is None) == scope.covers(where.province, where.ward)
    if refused is not None:
        assert refused.code == "out_of_area"
        wrong_province = scope.province != where.province
        assert refused.field == ("area.province" if wrong_province else "area.ward")


async def _commune_reporter(intake: Intake) -> Client:
    async with intake.platform.database.transaction() as session:
        made = await admin.create_client(session, "UBND xã Mường Phăng", "reporter", PROVINCE,
                                         WARD)  # fmt: skip
    return made.client


async def test_the_submissions_stream_refuses_writes_outside_the_submitters_area(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_intake(redis_url, database_url, tmp_path) as intake:
        token = await intake.token(await _commune_reporter(intake))
        before = await intake.counts()
        outside = [
            ("report.submitted", report("a-1", area={"province": PROVINCE, "ward": OTHER_WARD})),
            ("report.submitted", report("a-2", area={"province": OTHER_PROVINCE,
                                                     "ward": ITS_WARD})),
            ("activity.submitted", ACTIVITY | {"area": {"province": OTHER_PROVINCE}}),
            ("activity.submitted", ACTIVITY | {"area": {"province": PROVINCE}}),  # the province
        ]  # fmt: skip
        for event_type, body in outside:
            assert await _outcome(intake, entry(event_type, body, token)) == ["out_of_area"]
        after = await intake.counts()
        for effect in ("cases", "activities", "case.received", "activity.reported"):
            assert after[effect] == before[effect], effect
        assert after["submission.rejected"] == before["submission.rejected"] + len(outside)

        inside = [("report.submitted", report("a-3")), ("activity.submitted", ACTIVITY)]
        for event_type, body in inside:
            assert await _outcome(intake, entry(event_type, body, token)) == []
        admitted = await intake.counts()
        assert (admitted["cases"], admitted["activities"]) == (after["cases"] + 1,
                                                               after["activities"] + 1)  # fmt: skip
