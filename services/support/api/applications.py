"""A person's applications for support: recorded on receipt, moved stage by stage, each stage
with its agency, legal limit and due date, and ended by a decision that links the grants."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from uuid6 import uuid7

from services.support import application_store, domain, store
from services.support import applications as rules
from services.support.api.common import case_in_area, facts_of, refused
from services.support.applications import OPEN, LinkedGrant, Procedures, StageStatus
from services.support.domain import Refusal
from services.support.policies import Kind
from shared.events.base import business_today
from shared.guard import PrincipalDep, ensure_area
from shared.http import problem
from shared.legal_time import DayKind, add_days
from shared.webapp import PlatformDep

router = APIRouter()
Status = Literal["open", "approved", "partly_approved", "refused"]


def procedures_of(request: Request) -> Procedures:
    procedures: Procedures = request.app.state.application_procedures
    return procedures


ProceduresDep = Annotated[Procedures, Depends(procedures_of)]


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kinds: list[Kind] = Field(min_length=1, max_length=len(Kind), description="Support applied for")
    received_at: date = Field(description="The day the application was received")
    received_by: StrictStr = Field(
        min_length=2, max_length=200, description="The agency that received it (no person's name)"
    )
    beneficiary: str = Field(default="person", pattern=r"^(person|minor-[1-9][0-9]?)$")


class StageOut(BaseModel):
    stage: str
    agency: str
    level: str
    days: int
    day_kind: str
    limit_known: bool = Field(description="False: a configured limit, not one the law confirms")
    legal_basis: str
    escalates_to: str
    status: StageStatus
    started_on: date | None
    due_on: date | None = Field(description="The stage's last day; null until it starts")
    done_on: date | None
    overdue: bool = Field(description="Past its due date and not done")
    overdue_at: datetime | None = Field(description="When it was escalated (once), if it was")


class ApprovedKind(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    grant_id: StrictStr = Field(min_length=1, max_length=40, description="The grant that gives it")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approved: list[ApprovedKind] = Field(default_factory=list, max_length=len(Kind))
    refused: list[Kind] = Field(default_factory=list, max_length=len(Kind))
    reason: StrictStr | None = Field(default=None, min_length=3, max_length=1000,
                                     description="Why the refused kinds are refused")  # fmt: skip


class DecisionOut(BaseModel):
    decided_on: date
    approved: list[ApprovedKind]
    refused: list[str]
    reason: str | None


class ApplicationOut(BaseModel):
    application_id: str
    case_id: str
    beneficiary: str
    kinds: list[str]
    regime: str
    legal_basis: str
    received_on: date
    received_by: str
    status: Status
    current_stage: str | None
    current_due_on: date | None
    overdue: bool = Field(description="The current stage is past its due date")
    stages: list[StageOut]
    decision: DecisionOut | None


def _stage_out(row: Any, today: date) -> StageOut:
    values = row._asdict()
    running = values["status"] in (StageStatus.OPEN, StageStatus.OVERDUE)
    return StageOut(**values, overdue=running and rules.overdue(values["due_on"], today))


def _application_out(
    found: dict[str, Any], stages: list[Any], linked: dict[str, str], today: date
) -> ApplicationOut:
    decision = None
    if found["decided_on"] is not None:
        decision = DecisionOut(
            decided_on=found["decided_on"], refused=found["refused_kinds"],
            approved=[ApprovedKind(kind=Kind(k), grant_id=g) for k, g in sorted(linked.items())],
            reason=found["decision_reason"],
        )  # fmt: skip
    return ApplicationOut(
        **{k: v for k, v in found.items() if k in ApplicationOut.model_fields},
        overdue=rules.overdue(found["current_due_on"], today),
        stages=[_stage_out(row, today) for row in stages], decision=decision,
    )  # fmt: skip


@router.post("/v1/cases/{case_id}/applications", status_code=201, response_model=ApplicationOut,
             responses={403: {}, 404: {}, 409: {}, 422: {}})  # fmt: skip
async def record_application(
    case_id: str, body: ApplicationIn, platform: PlatformDep, principal: PrincipalDep,
    procedures: ProceduresDep,
) -> Any:  # fmt: skip
    """Record an application for support as received; its first stage's limit runs from then."""
    case = await case_in_area(platform, principal, case_id)
    if isinstance(case, JSONResponse):
        return case
    today = business_today()
    async with platform.unit_of_work() as uow:
        facts = await facts_of(uow.session, case_id, lock=True)
        procedure = rules.procedure_for(procedures, body.received_at)
        pending = await application_store.kinds_pending(uow.session, case_id, body.beneficiary)
        found = rules.check_application(facts, procedure, body.kinds, body.received_at, today,
                                        already_open=pending)  # fmt: skip
        if body.beneficiary not in domain.beneficiaries(facts):
            found.append(Refusal("beneficiary.unknown", "beneficiary",
                                 f"the case has {facts.accompanying_minors} accompanying "
                                 "minor(s)"))  # fmt: skip
        if found:
            return refused("The application is refused", found)
        application_id = str(uuid7())
        planned = rules.plan(procedure, body.received_at)
        values = {
            "application_id": application_id, "case_id": case_id,
            "beneficiary": body.beneficiary, "kinds": [str(k) for k in body.kinds],
            "regime": procedure.regime, "legal_basis": procedure.legal_basis,
            "received_on": body.received_at, "received_by": body.received_by,
            "recorded_by": principal.client_id, "status": OPEN,
            "current_stage": planned[0].limit.stage, "current_due_on": planned[0].due_on,
            "decided_on": None, "refused_kinds": [], "decision_reason": None,
            "province": case.province, "ward": case.ward,
        }  # fmt: skip
        stages = [
            {"application_id": application_id, "position": p.position, "stage": p.limit.stage,
             "agency": p.limit.agency, "level": p.limit.level, "days": p.limit.days,
             "day_kind": p.limit.day_kind, "limit_known": p.limit.known,
             "escalates_to": p.limit.escalates_to, "legal_basis": p.limit.legal_basis,
             "status": p.status, "started_on": p.started_on, "due_on": p.due_on,
             "done_on": None, "done_by": None, "overdue_at": None}
            for p in planned
        ]  # fmt: skip
        await application_store.add_application(uow.session, values, stages)
        rows = await application_store.stages_of(uow.session, application_id)
    return _application_out(values, rows, {}, today)


class ApplicationPage(BaseModel):
    applications: list[ApplicationOut]


OVERDUE = "true: only those past their current stage's due date; false: only those within it"


@router.get("/v1/applications", response_model=ApplicationPage)
async def list_applications(
    platform: PlatformDep,
    principal: PrincipalDep,
    status: Status | None = None,
    overdue: Annotated[bool | None, Query(description=OVERDUE)] = None,
    case_id: str | None = None,
) -> ApplicationPage:
    """Applications within the caller's area, soonest due first (decisions' reasons left out)."""
    today, area = business_today(), principal.area
    async with platform.database.reading() as session:
        rows = await application_store.list_applications(
            session, status=status, case_id=case_id, late_on=today if overdue else None,
            province=area.province, ward=area.ward,
        )  # fmt: skip
        if overdue is False:
            rows = [r for r in rows if not rules.overdue(r.current_due_on, today)]
        page = []
        for row in rows:
            found = row._asdict() | {"decision_reason": None}
            stages = await application_store.stages_of(session, found["application_id"])
            linked = await application_store.grants_linked(session, found["application_id"])
            page.append(_application_out(found, stages, linked, today))
    return ApplicationPage(applications=page)


async def _in_area(platform: Any, principal: Any, application_id: str) -> Any:
    async with platform.database.reading() as session:
        found = await application_store.application(session, application_id)
    if found is None:
        return problem(404, "No such application", kind="not-found")
    ensure_area(principal, found["province"], found["ward"], found["case_id"])
    return found


@router.get("/v1/applications/{application_id}", response_model=ApplicationOut,
            responses={403: {}, 404: {}})  # fmt: skip
async def read_application(application_id: str, platform: PlatformDep,
                           principal: PrincipalDep) -> Any:  # fmt: skip
    """An application with its stages, due dates and decision (the reason may hold personal
    data: the read is on record)."""
    found = await _in_area(platform, principal, application_id)
    if isinstance(found, JSONResponse):
        return found
    async with platform.database.reading() as session:
        stages = await application_store.stages_of(session, application_id)
        linked = await application_store.grants_linked(session, application_id)
    return _application_out(found, stages, linked, business_today())


class StageDoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date = Field(description="The day the stage's agency finished it")
    decision: DecisionIn | None = Field(default=None, description="Required on the last stage")


@router.post(
    "/v1/applications/{application_id}/stages/{stage}/done",
    response_model=ApplicationOut,
    responses={403: {}, 404: {}, 409: {}, 422: {}},
)
async def stage_done(
    application_id: str, stage: str, body: StageDoneIn, platform: PlatformDep,
    principal: PrincipalDep,
) -> Any:  # fmt: skip
    """The current stage is done: the next one's limit runs from that day; the last one ends
    with the decision on every kind applied for."""
    found = await _in_area(platform, principal, application_id)
    if isinstance(found, JSONResponse):
        return found
    today = business_today()
    async with platform.unit_of_work() as uow:
        stages = await application_store.stages_of(uow.session, application_id)
        current = next((s for s in stages if s.stage == found["current_stage"]), None)
        started = current.started_on if current else None
        problems = rules.check_step(stage, found["current_stage"], started, body.on, today)
        if problems:
            return refused("The step is refused", problems)
        assert current is not None
        last = current.position == len(stages) - 1
        if last != (body.decision is not None):
            return refused("The step is refused", [Refusal(
                "decision.required" if last else "decision.early", "decision",
                "the last stage ends with the decision" if last
                else "only the last stage ends with a decision")])  # fmt: skip
        if body.decision is not None:
            problems = await _check_decision(uow.session, found, body.decision)
            if problems:
                return refused("The decision is refused", problems)
        if not await application_store.complete_stage(
            uow.session, application_id, current.position, body.on, principal.client_id
        ):
            return refused("The step is refused", [Refusal(
                "application.stage", "stage", "someone completed the stage first")])  # fmt: skip
        changes = _next(stages, current.position, body)
        if changes.get("current_stage"):
            nxt = stages[current.position + 1]
            await application_store.open_stage(uow.session, application_id, nxt.position,
                                               body.on, changes["current_due_on"])  # fmt: skip
        if body.decision is not None:
            await application_store.link_grants(
                uow.session, application_id, {a.kind: a.grant_id for a in body.decision.approved}
            )
        await application_store.move_application(uow.session, application_id, changes)
        after = await application_store.application(uow.session, application_id)
        rows = await application_store.stages_of(uow.session, application_id)
        linked = await application_store.grants_linked(uow.session, application_id)
    assert after is not None
    return _application_out(after, rows, linked, today)


def _next(stages: list[Any], position: int, body: StageDoneIn) -> dict[str, Any]:
    """The application's new state: the next stage running, or the decision taken."""
    decision = body.decision
    if decision is None:
        following = stages[position + 1]
        return {"current_stage": following.stage, "current_due_on": _due(following, body.on)}
    approved = [a.kind for a in decision.approved]
    return {"status": rules.outcome(approved, decision.refused), "current_stage": None,
            "current_due_on": None, "decided_on": body.on,
            "refused_kinds": [str(k) for k in decision.refused],
            "decision_reason": decision.reason}  # fmt: skip


def _due(stage: Any, start: date) -> date:
    """By the limit recorded with the application: the table as it was when it was received."""
    return add_days(start, stage.days, DayKind(stage.day_kind))


async def _check_decision(
    session: Any, found: dict[str, Any], decision: DecisionIn
) -> list[Refusal]:
    ids = [a.grant_id for a in decision.approved]
    elsewhere = await application_store.linked_elsewhere(session, ids)
    grants: dict[str, LinkedGrant | None] = {}
    for approved in decision.approved:
        row = await store.grant(session, approved.grant_id)
        grants[approved.kind] = None if row is None else LinkedGrant(
            row.grant_id, row.case_id, row.kind, row.beneficiary, row.status,
            row.grant_id in elsewhere)  # fmt: skip
    if len(grants) != len(decision.approved):
        return [Refusal("decision.kinds", "decision.approved", "a kind is approved twice")]
    return rules.check_decision(found["kinds"], found["beneficiary"], found["case_id"], grants,
                                refused=decision.refused, reason=decision.reason)  # fmt: skip
