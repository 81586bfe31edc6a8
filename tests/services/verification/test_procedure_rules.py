"""Properties of the procedures for every input: every regime routes every route to agencies
with a legal basis; every step's due date is a working day at or after its start plus its limit;
the files are refused at start when they cannot be trusted."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.verification.procedures import (
    DEADLINES_FILE,
    ROUTING_FILE,
    ProcedureError,
    Route,
    complete,
    current,
    load,
    opened_steps,
    route_of,
)
from shared.legal_time import is_working_day

PROCEDURES = load()
CHANNELS = ("hotline_111", "commune", "police", "border_guard", "military", "ngo", "family",
            "foreign_authority", "self_report")  # fmt: skip
FORMS = ("self_returned", "rescued", "bilateral_handover", "suspected")
received_dates = st.dates(date(2012, 1, 1), date(2030, 12, 31))


@settings(max_examples=300, deadline=None)
@given(received=received_dates, channel=st.sampled_from(CHANNELS), form=st.sampled_from(FORMS))
def test_every_regime_and_route_yields_agencies_with_a_legal_basis(
    received: date, channel: str, form: str
) -> None:
    plan = PROCEDURES.plan(received, route_of(channel, form))
    assert plan.legal_basis.startswith(("Law 66/2011", "Law 53/2024"))
    assert ("66/2011" in plan.legal_basis) == (received < date(2025, 7, 1))
    for step in opened_steps(PROCEDURES, plan.procedure, received):
        assert step["agencies"]
        assert "commune_police" not in step["agencies"]
        assert step["legal_basis"].strip()
        assert "Art" in step["legal_basis"]  # Art. or Arts.


@settings(max_examples=300, deadline=None)
@given(
    received=received_dates,
    route=st.sampled_from(list(Route)),
    waits=st.lists(st.integers(0, 40), min_size=3, max_size=3),
)
def test_every_steps_due_date_is_a_working_day_no_earlier_than_its_start_plus_its_limit(
    received: date, route: Route, waits: list[int]
) -> None:
    steps = opened_steps(PROCEDURES, PROCEDURES.plan(received, route).procedure, received)
    for wait in waits:
        running = current(steps)
        assert running is not None
        start, due = date.fromisoformat(running["starts_on"]), date.fromisoformat(running["due_on"])
        assert is_working_day(due)
        assert due >= start + timedelta(days=running["days"])
        if running is steps[-1]:
            break
        on = start + timedelta(days=wait)
        steps = complete(PROCEDURES, steps, running["step"], on, on, last_ends_task=False)
        assert current(steps)["starts_on"] == on.isoformat()  # type: ignore[index]


def test_a_received_date_before_the_first_regime_is_refused() -> None:
    with pytest.raises(ProcedureError):
        PROCEDURES.plan(date(2011, 12, 31), Route.SELF_REPORT)


def _broken(tmp_path: Path, routing: str | None = None, deadlines: str | None = None) -> None:
    (tmp_path / "r.toml").write_text(routing or ROUTING_FILE.read_text(encoding="utf-8"))
    (tmp_path / "d.toml").write_text(deadlines or DEADLINES_FILE.read_text(encoding="utf-8"))
    load(tmp_path / "d.toml", tmp_path / "r.toml")


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("routing", 'route = "rescued"\nprocedure = "law53_rescued"',
         'route = "self_report"\nprocedure = "law53_rescued"'),  # a route routed twice, one not
        ("routing", 'procedure = "law53_returned"', 'procedure = "law53_nowhere"'),
        ("routing", "effective_from = 2025-07-01", "effective_from = 2025-06-01"),  # overlap
        ("deadlines", 'legal_basis = "Law 66/2011/QH12 Art. 24"\n', 'legal_basis = " "\n'),
        ("deadlines", 'start = "request"', 'start = "reception"'),
        ("deadlines", 'day_kind = "calendar"', 'day_kind = "lunar"'),
        ("deadlines", "known = true", 'known = "yes"'),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_trusted_stops_the_start(
    tmp_path: Path, file: str, old: str, new: str
) -> None:
    source = (ROUTING_FILE if file == "routing" else DEADLINES_FILE).read_text(encoding="utf-8")
    assert old in source
    changed = {file: source.replace(old, new, 1)}
    with pytest.raises(ProcedureError):
        _broken(tmp_path, **changed)
