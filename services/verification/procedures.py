"""The verification procedures as data (deadlines.toml, routing.toml): which procedure a case
follows, its steps with their agencies and due dates, and how a step's completion starts the
next. Pure; both files are checked when the service starts."""

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Any

from shared.legal_time import DayKind, add_days

HERE = Path(__file__).parent
DEADLINES_FILE = HERE / "deadlines.toml"
ROUTING_FILE = HERE / "routing.toml"


class Route(StrEnum):
    SELF_REPORT = "self_report"
    RESCUED = "rescued"
    RETURNED = "returned"


class Start(StrEnum):
    RECEPTION = "reception"
    REQUEST = "request"
    COMPLETION = "completion"


class ProcedureError(ValueError):
    """A deadlines or routing file that cannot be trusted, or a date no regime covers."""


@dataclass(frozen=True, slots=True)
class Step:
    step: str
    agencies: tuple[str, ...]
    start: Start
    days: int
    day_kind: DayKind
    known: bool
    legal_basis: str
    summary: str


@dataclass(frozen=True, slots=True)
class Procedure:
    id: str
    summary: str
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Regime:
    id: str
    effective_from: date
    effective_to: date | None
    legal_basis: str

    def in_force(self, day: date) -> bool:
        ends = self.effective_to
        return self.effective_from <= day and (ends is None or day <= ends)


@dataclass(frozen=True, slots=True)
class Successor:
    agency: str
    successor: str
    since: date
    legal_basis: str


@dataclass(frozen=True, slots=True)
class ChildRule:
    regime: str
    routes: frozenset[Route]
    under_age: int
    procedure: str
    legal_basis: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What the law makes of one received case."""

    regime: str
    route: Route
    procedure: Procedure
    legal_basis: str


@dataclass(frozen=True, slots=True)
class Procedures:
    regimes: tuple[Regime, ...]
    routes: Mapping[tuple[str, Route], tuple[str, str]]  # → (procedure id, legal basis)
    procedures: Mapping[str, Procedure]
    successors: tuple[Successor, ...]
    child: ChildRule

    def regime_on(self, day: date) -> Regime:
        for regime in self.regimes:
            if regime.in_force(day):
                return regime
        raise ProcedureError(f"no verification regime in force on {day}")

    def plan(self, received_on: date, route: Route) -> Plan:
        regime = self.regime_on(received_on)
        procedure_id, basis = self.routes[(regime.id, route)]
        return Plan(regime.id, route, self.procedures[procedure_id], basis)

    def child_plan(self, received_on: date, route: Route, age: int | None) -> Plan | None:
        """The child-return task's plan, for a child whose case the rule covers."""
        rule = self.child
        if age is None or age >= rule.under_age or route not in rule.routes:
            return None
        if self.regime_on(received_on).id != rule.regime:
            return None
        return Plan(rule.regime, route, self.procedures[rule.procedure], rule.legal_basis)

    def agencies(self, step: Step, due: date) -> list[str]:
        """The step's agencies; one removed before the step's due date is its successor's."""
        found: list[str] = []
        for named in step.agencies:
            agency = named
            for successor in self.successors:
                if successor.agency == agency and due >= successor.since:
                    agency = successor.successor
            if agency not in found:
                found.append(agency)
        return found


def route_of(channel: str, reception_form: str) -> Route:
    if reception_form == "rescued":
        return Route.RESCUED
    if reception_form == "bilateral_handover" or channel == "foreign_authority":
        return Route.RETURNED
    return Route.SELF_REPORT


def load(
    deadlines: Path = DEADLINES_FILE,
    routing: Path = ROUTING_FILE,
    *,
    unknown_days: int | None = None,
    unknown_limits: Mapping[str, int] | None = None,
) -> Procedures:
    """Both files, checked; limits the law leaves open take the configured values."""
    try:
        procedures = _procedures(tomllib.loads(deadlines.read_text(encoding="utf-8")))
        loaded = _routing(tomllib.loads(routing.read_text(encoding="utf-8")), procedures)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
        if isinstance(error, ProcedureError):
            raise
        raise ProcedureError(f"{deadlines.name}/{routing.name}: {error!r}") from error
    overrides = dict(unknown_limits or {})
    for key in overrides:
        procedure_id, _, step_id = key.partition(".")
        steps = procedures.get(procedure_id, Procedure("", "", ())).steps
        if not any(s.step == step_id and not s.known for s in steps):
            raise ProcedureError(f"unknown_limits: {key} is not a step whose limit is unknown")

    def configured(procedure: Procedure) -> Procedure:
        steps = tuple(
            s if s.known else replace(s, days=overrides.get(f"{procedure.id}.{s.step}",
                                                            unknown_days or s.days))
            for s in procedure.steps
        )  # fmt: skip
        return replace(procedure, steps=steps)

    return replace(loaded, procedures={k: configured(p) for k, p in procedures.items()})


def _procedures(document: dict[str, Any]) -> dict[str, Procedure]:
    procedures: dict[str, Procedure] = {}
    for row in document["procedure"]:
        steps = tuple(
            Step(s["step"], tuple(s["agencies"]), Start(s["start"]), int(s["days"]),
                 DayKind(s["day_kind"]), _bool(s["known"]), s["legal_basis"], s["summary"])
            for s in row["step"]
        )  # fmt: skip
        _check_steps(row["id"], steps)
        if row["id"] in procedures:
            raise ProcedureError(f"procedure {row['id']} repeats")
        procedures[row["id"]] = Procedure(row["id"], row["summary"], steps)
    return procedures


def _check_steps(procedure: str, steps: tuple[Step, ...]) -> None:
    if not steps:
        raise ProcedureError(f"{procedure}: no steps")
    if len({s.step for s in steps}) != len(steps):
        raise ProcedureError(f"{procedure}: step ids repeat")
    for n, s in enumerate(steps):
        if (s.start is Start.RECEPTION) != (n == 0):
            raise ProcedureError(f"{procedure}.{s.step}: only the first step runs from reception")
        if not s.agencies or not s.legal_basis.strip() or s.days < 1:
            raise ProcedureError(f"{procedure}.{s.step}: agencies, a legal basis and days > 0")


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ProcedureError(f"known must be true or false, not {value!r}")
    return value


def _routing(document: dict[str, Any], procedures: dict[str, Procedure]) -> Procedures:
    regimes = tuple(
        sorted((Regime(r["id"], r["effective_from"], r.get("effective_to"), r["legal_basis"])
                for r in document["regime"]), key=lambda r: r.effective_from)
    )  # fmt: skip
    for earlier, later in pairwise(regimes):
        if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
            raise ProcedureError(f"regimes {earlier.id} and {later.id} overlap")
    routes: dict[tuple[str, Route], tuple[str, str]] = {}
    for row in document["route"]:
        key = (row["regime"], Route(row["route"]))
        if key in routes or row["procedure"] not in procedures or not row["legal_basis"].strip():
            raise ProcedureError(f"route {key}: repeated, unknown procedure or no legal basis")
        routes[key] = (row["procedure"], row["legal_basis"])
    missing = {(r.id, route) for r in regimes for route in Route} - set(routes)
    if missing:
        raise ProcedureError(f"not routed: {sorted(missing)}")
    successors = tuple(
        Successor(s["agency"], s["successor"], s["from"], s["legal_basis"])
        for s in document.get("successor", [])
    )
    c = document["child"]
    child = ChildRule(c["regime"], frozenset(Route(r) for r in c["routes"]), int(c["under_age"]),
                      c["procedure"], c["legal_basis"])  # fmt: skip
    if child.procedure not in procedures or child.regime not in {r.id for r in regimes}:
        raise ProcedureError("child: unknown procedure or regime")
    return Procedures(regimes, routes, procedures, successors, child)


# A task's steps as stored (JSON) and shown: the law's step with its dates.


def opened_steps(
    procedures: Procedures, procedure: Procedure, received_on: date
) -> list[dict[str, Any]]:
    """The procedure's steps for a case received on ``received_on``: the first one running."""
    steps = [_as_row(s) for s in procedure.steps]
    _start(procedures, steps[0], received_on)
    return steps


def _as_row(step: Step) -> dict[str, Any]:
    return {"step": step.step, "agencies": list(step.agencies), "start": str(step.start),
            "days": step.days, "day_kind": str(step.day_kind), "known": step.known,
            "legal_basis": step.legal_basis, "summary": step.summary,
            "starts_on": None, "due_on": None, "done_on": None}  # fmt: skip


def _start(procedures: Procedures, row: dict[str, Any], on: date) -> None:
    """Start a stored step on ``on``: its due date by the limit it was opened with."""
    due = add_days(on, int(row["days"]), DayKind(row["day_kind"]))
    law = Step(
        row["step"],
        tuple(row["agencies"]),
        Start(row["start"]),
        int(row["days"]),
        DayKind(row["day_kind"]),
        row["known"],
        row["legal_basis"],
        row["summary"],
    )
    row |= {"starts_on": on.isoformat(), "due_on": due.isoformat(),
            "agencies": procedures.agencies(law, due)}  # fmt: skip


def current(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((s for s in steps if s["done_on"] is None), None)


class StepRefused(ValueError):
    """A step that may not be marked done; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def complete(
    procedures: Procedures,
    steps: list[dict[str, Any]],
    step_id: str,
    on: date,
    today: date,
    *,
    last_ends_task: bool,
) -> list[dict[str, Any]]:
    """The steps once ``step_id`` is done on ``on`` (its request's or completion's date): the
    next step starts from that date, as its ``start`` says the law counts it."""
    running = current(steps)
    if running is None or running["step"] != step_id:
        raise StepRefused(409, f"{step_id} is not the step under way")
    if on < date.fromisoformat(running["starts_on"]) or on > today:
        raise StepRefused(422, "on: must be between the step's start and today")
    index = steps.index(running)
    if index == len(steps) - 1 and not last_ends_task:
        raise StepRefused(409, "the last step ends with the identification decision")
    updated = [dict(s) for s in steps]
    updated[index]["done_on"] = on.isoformat()
    if index + 1 < len(updated):
        _start(procedures, updated[index + 1], on)
    return updated


def task_values(steps: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """A task's columns once its steps changed: the next step's due date, agencies and basis,
    reminded and escalated afresh; none left (a child's return arranged), the task is done."""
    following = current(steps)
    if following is None:
        return {"steps": steps, "step": None, "status": "closed", "closed_at": now,
                "closed_because": "done"}  # fmt: skip
    return {"steps": steps, "step": following["step"],
            "due_on": date.fromisoformat(following["due_on"]),
            "agencies": following["agencies"], "legal_basis": following["legal_basis"],
            "status": "open", "reminded_at": None, "overdue_at": None}  # fmt: skip
