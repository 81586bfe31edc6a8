"""A person's application for support and the time each agency has for it. Pure: the legal
table of processing limits (``application_limits.toml``), an application's stages with their
due dates, when a stage is overdue, and whether a step or the decision may be taken.

The stages run one after another: the first is counted from the day the application was
received, each next one from the day the previous one was done, as the texts count them ("from
the day it receives the dossier"). The procedure is the one in force on the day the
application is received, whatever the person's regime for what they may receive: from
2025-07-01 the district agencies of Decree 09/2013's procedure no longer exist. It is placed
once: a procedure does not change under an application already running."""

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from services.support.domain import Facts, Refusal, case_refusals
from services.support.policies import REGIME_CHANGE, Kind, Regime
from shared.legal_time import DayKind, add_days

LIMITS_FILE = Path(__file__).with_name("application_limits.toml")
CODE = r"^[a-z][a-z0-9_]*$"


class LimitsError(ValueError):
    """A table of processing limits that cannot be trusted: the service does not start."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _StageRow(_Strict):
    stage: str = Field(pattern=CODE, max_length=40)
    agency: str = Field(pattern=CODE, max_length=60)
    level: Literal["commune", "district", "province"]
    days: Annotated[StrictInt, Field(gt=0, le=366)]
    day_kind: DayKind
    known: StrictBool
    escalates_to: str = Field(pattern=CODE, max_length=60)
    legal_basis: str = Field(min_length=3)
    summary: str = ""


class _ProcedureRow(_Strict):
    regime: Regime
    kinds: list[Kind] = Field(min_length=1)
    legal_basis: str = Field(min_length=3)
    stage: list[_StageRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> "_ProcedureRow":
        names = [row.stage for row in self.stage]
        if len(set(names)) != len(names) or len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"{self.regime}: a stage or a kind repeats")
        return self


class _File(_Strict):
    procedure: list[_ProcedureRow]

    @model_validator(mode="after")
    def _every_regime_once(self) -> "_File":
        regimes = [row.regime for row in self.procedure]
        if sorted(regimes) != sorted(Regime):
            raise ValueError(f"one procedure per regime ({', '.join(Regime)}), got {regimes}")
        return self


@dataclass(frozen=True, slots=True)
class StageLimit:
    """One agency's step and the time the law gives it."""

    stage: str
    agency: str
    level: str
    days: int
    day_kind: DayKind
    known: bool
    escalates_to: str
    legal_basis: str
    summary: str

    def due_on(self, start: date) -> date:
        """The last day of the stage started on ``start`` (the start day not counted)."""
        return add_days(start, self.days, self.day_kind)


@dataclass(frozen=True, slots=True)
class Procedure:
    regime: Regime
    kinds: frozenset[Kind]
    legal_basis: str
    stages: tuple[StageLimit, ...]

    def position(self, stage: str) -> int | None:
        return next((i for i, s in enumerate(self.stages) if s.stage == stage), None)


Procedures = Mapping[Regime, Procedure]


def load_procedures(path: Path = LIMITS_FILE, unknown_days: int | None = None) -> Procedures:
    """The table, checked row by row; ``unknown_days`` replaces every limit marked unknown."""
    try:
        parsed = _File.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValueError) as error:
        raise LimitsError(f"{path.name}: {error}") from error
    procedures = {}
    for row in parsed.procedure:
        stages = tuple(StageLimit(**s.model_dump()) for s in row.stage)
        if unknown_days is not None:
            stages = tuple(s if s.known else replace(s, days=unknown_days) for s in stages)
        procedures[row.regime] = Procedure(row.regime, frozenset(row.kinds), row.legal_basis,
                                           stages)  # fmt: skip
    return procedures


class StageStatus(StrEnum):
    PENDING = "pending"  # the previous stage is not done yet
    OPEN = "open"
    OVERDUE = "overdue"  # past its due date and escalated (once)
    DONE = "done"


class Outcome(StrEnum):
    APPROVED = "approved"
    PARTLY_APPROVED = "partly_approved"
    REFUSED = "refused"


OPEN = "open"  # an application whose decision is not taken yet


@dataclass(frozen=True, slots=True)
class PlannedStage:
    position: int
    limit: StageLimit
    status: StageStatus
    started_on: date | None
    due_on: date | None


def procedure_for(procedures: Procedures, received_on: date) -> Procedure:
    """The procedure in force on the day the application is received."""
    return procedures[Regime.LAW_66_2011 if received_on < REGIME_CHANGE else Regime.LAW_53_2024]


def plan(procedure: Procedure, received_on: date) -> list[PlannedStage]:
    """The stages of an application received on ``received_on``: the first runs from that day,
    the others wait for the one before."""
    first = procedure.stages[0]
    return [
        PlannedStage(0, first, StageStatus.OPEN, received_on, first.due_on(received_on)),
        *(PlannedStage(i, s, StageStatus.PENDING, None, None)
          for i, s in enumerate(procedure.stages[1:], start=1)),
    ]  # fmt: skip


def overdue(due: date | None, today: date) -> bool:
    """A stage is late from the day after its last day."""
    return due is not None and today > due


def check_application(
    facts: Facts,
    procedure: Procedure,
    kinds: Iterable[Kind],
    received_on: date,
    today: date,
    *,
    already_open: Iterable[str] = (),
) -> list[Refusal]:
    """Whether an application may be recorded. Eligibility is not judged here: the agencies
    answer every application, a refusal included, so an ineligible one is still recorded."""
    kinds = list(kinds)
    found = case_refusals(facts)
    outside = sorted(set(kinds) - procedure.kinds)
    if outside:
        found.append(Refusal("kinds.no_procedure", "kinds",
                             f"{', '.join(outside)}: not applied for under "
                             f"{procedure.legal_basis}"))  # fmt: skip
    if len(set(kinds)) != len(kinds):
        found.append(Refusal("kinds.repeated", "kinds", "a kind is named twice"))
    if received_on < facts.received_on:
        found.append(Refusal("received_at.range", "received_at",
                             "is before the case was received"))  # fmt: skip
    if received_on > today:
        found.append(Refusal("received_at.range", "received_at", "is in the future"))
    pending = sorted(set(kinds) & set(already_open))
    if pending:
        message = f"{', '.join(pending)}: an earlier application is not decided"
        found.append(Refusal("application.open", "kinds", message))
    return found


def check_step(
    stage: str, current: str | None, started_on: date | None, on: date, today: date
) -> list[Refusal]:
    """Whether ``stage`` may be marked done on ``on``: only the current stage, on a day
    between its start and today."""
    if current is None:
        return [Refusal("application.decided", "stage", "the application is decided")]
    if stage != current:
        return [Refusal("application.stage", "stage", f"the current stage is {current}")]
    if started_on is not None and on < started_on:
        return [Refusal("on.range", "on", f"is before the stage started ({started_on})")]
    if on > today:
        return [Refusal("on.range", "on", "is in the future")]
    return []


@dataclass(frozen=True, slots=True)
class LinkedGrant:
    """A grant recorded for the case, as the decision links it to an approved kind."""

    grant_id: str
    case_id: str
    kind: str
    beneficiary: str
    status: str
    linked_elsewhere: bool


def check_decision(
    applied: Iterable[str],
    beneficiary: str,
    case_id: str,
    approved: Mapping[str, LinkedGrant | None],
    *,
    refused: Iterable[str],
    reason: str | None,
) -> list[Refusal]:
    """The last stage ends with a decision on every kind applied for: approved, each with the
    grant that gives it, or refused with the reason."""
    applied, refused = set(applied), list(refused)
    decided = [*approved, *refused]
    found = []
    if sorted(decided) != sorted(applied):
        message = f"decide each kind applied for once: {', '.join(sorted(applied))}"
        found.append(Refusal("decision.kinds", "decision", message))
    if refused and not reason:
        found.append(Refusal("decision.reason", "decision.reason",
                             "a refusal is answered with its reason"))  # fmt: skip
    for kind, grant in approved.items():
        problem = _unsuitable(grant, kind, beneficiary, case_id)
        if problem:
            found.append(Refusal("decision.grant", "decision.approved", f"{kind}: {problem}"))
    return found


def _unsuitable(grant: LinkedGrant | None, kind: str, beneficiary: str, case_id: str) -> str:
    if grant is None or grant.case_id != case_id:
        return "no such grant for this case"
    if (grant.kind, grant.beneficiary) != (kind, beneficiary):
        return f"the grant is for {grant.kind} to {grant.beneficiary}"
    if grant.status == "rejected":
        return "the grant was rejected"
    if grant.linked_elsewhere:
        return "the grant answers another application"
    return ""


def outcome(approved: Iterable[str], refused: Iterable[str]) -> Outcome:
    approved, refused = list(approved), list(refused)
    if not refused:
        return Outcome.APPROVED
    return Outcome.PARTLY_APPROVED if approved else Outcome.REFUSED
