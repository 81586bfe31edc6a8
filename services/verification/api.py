"""Verification's HTTP API: decisions, the work list, a case's verification."""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from uuid6 import uuid7

from services.verification import api_steps, domain, store
from services.verification.domain import DecisionRefused, Evidence, Outcome
from services.verification.handlers import today
from services.verification.metrics import TaskMetrics
from shared.access import Principal, Role
from shared.cases import KnownCase, case_to_act_on, known_case, register_api
from shared.diagnostics import receipts
from shared.events.base import business_time
from shared.events.verification import (
    CaseIdentificationAmended,
    CaseIdentified,
    CaseNotIdentified,
    Protected,
    ProtectionEnded,
    ProtectionOrdered,
    Trafficking,
)
from shared.guard import PrincipalDep, ensure_area, forbidden
from shared.http import problem
from shared.runtime import Platform
from shared.webapp import PlatformDep

router = APIRouter()
router.include_router(receipts)
router.include_router(register_api)
router.include_router(api_steps.router)


class Corrections(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["domestic", "abroad", "unknown"] | None = None
    destination_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    purposes: list[StrictStr] | None = None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    decided_at: date
    evidence: Evidence | None = Field(default=None, description="Required to identify a victim")
    corrections: Corrections = Field(default_factory=Corrections)
    amend_reason: StrictStr | None = Field(
        default=None, max_length=500, description="Required to change an earlier decision"
    )


class VerificationOut(BaseModel):
    case_id: str
    task: dict[str, Any] | None
    decision: dict[str, Any] | None
    child_task: dict[str, Any] | None = Field(
        default=None, description="A child victim's return task (Law 53/2024 Art. 30), if any"
    )


@router.post(
    "/v1/cases/{case_id}/decision",
    response_model=VerificationOut,
    responses={403: {}, 404: {}, 409: {}, 422: {}},
)
async def decide(
    case_id: str, decision: DecisionIn, platform: PlatformDep, principal: PrincipalDep
) -> Any:
    """Identify the person as a victim or not; amend an earlier decision with a reason."""
    found = await _case_to_act_on(platform, principal, case_id)
    if isinstance(found, JSONResponse):
        return found
    _, received_on = found
    if decision.outcome is Outcome.VICTIM and decision.evidence is None:
        return _refused(DecisionRefused("evidence", "a victim is identified on a document"))
    async with platform.unit_of_work() as uow:
        earlier = await store.decision_of(uow.session, case_id)
        try:
            domain.check_decision(
                decision.decided_at, received_on, today().date(),
                already_decided=earlier is not None, amend_reason=decision.amend_reason,
            )  # fmt: skip
        except DecisionRefused as refused:
            return _refused(refused)
        await _record(uow, case_id, decision, principal.client_id, earlier)
    if earlier is None:
        TaskMetrics.of(platform).decided(received_on, decision.decided_at)
    return await verification(case_id, platform, principal)


async def _case_to_act_on(
    platform: Platform, principal: Principal, case_id: str
) -> tuple[KnownCase, date] | JSONResponse:
    """The case and its reception date, or the problem to answer with (see shared.cases)."""
    case = await case_to_act_on(platform.database, principal, case_id)
    if isinstance(case, JSONResponse):
        return case
    assert case.received_on is not None  # a case neither received nor merged is not found
    return case, case.received_on


def _refused(refused: DecisionRefused) -> Any:
    status = 409 if refused.field == "amend_reason" else 422
    return problem(status, "The decision is refused", detail=str(refused), kind="invalid-request",
                   errors=[{"field": refused.field, "message": refused.message}])  # fmt: skip


async def _record(
    uow: Any, case_id: str, decision: DecisionIn, decided_by: str, earlier: Any
) -> None:
    corrections = decision.corrections.model_dump(exclude_none=True)
    amendments = list(earlier.amendments) if earlier else []
    if earlier is not None:
        amendments.append({"outcome": earlier.outcome, "decided_on": earlier.decided_on.isoformat(),
                           "reason": decision.amend_reason})  # fmt: skip
    await store.save_decision(
        uow.session,
        {"case_id": case_id, "outcome": decision.outcome, "decided_on": decision.decided_at,
         "evidence": decision.evidence, "corrections": corrections, "decided_by": decided_by,
         "amendments": amendments},
        new=earlier is None,
    )  # fmt: skip
    await store.close_task(uow.session, case_id, "decided", datetime.now(UTC), store.VERIFICATION)
    time = business_time(decision.decided_at)
    fixes = Trafficking(**corrections)
    event: Any
    if earlier is not None:
        event = CaseIdentificationAmended(
            case_id=case_id, outcome=decision.outcome, previous_outcome=earlier.outcome,
            decided_on=decision.decided_at, evidence=decision.evidence, corrections=fixes,
            revision=len(amendments) + 1,
        )  # fmt: skip
    elif decision.outcome is Outcome.VICTIM:
        event = CaseIdentified(case_id=case_id, decided_on=decision.decided_at,
                               evidence=str(decision.evidence), corrections=fixes,
                               revision=1)  # fmt: skip
    else:
        event = CaseNotIdentified(case_id=case_id, decided_on=decision.decided_at,
                                  evidence=decision.evidence, revision=1)  # fmt: skip
    await uow.emit(event, subject=case_id, time=time)


@router.get("/v1/cases/{case_id}/verification", response_model=VerificationOut,
            responses={403: {}, 404: {}})  # fmt: skip
async def verification(case_id: str, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """The case's verification task and decision, with its amendments."""
    case = await known_case(platform.database, case_id)
    if case is None:
        return problem(404, "No such case here", kind="not-found")
    ensure_area(principal, case.province, case.ward, case_id)
    async with platform.database.reading() as session:
        task = await store.task_of(session, case_id)
        child = await store.task_of(session, case_id, store.CHILD_RETURN)
        decision = await store.decision_of(session, case_id)
    return VerificationOut(
        case_id=case_id,
        task=api_steps.jsonable(task._asdict()) if task else None,
        decision=api_steps.jsonable(decision._asdict()) if decision else None,
        child_task=api_steps.jsonable(child._asdict()) if child else None,
    )


class TaskPage(BaseModel):
    tasks: list[dict[str, Any]]


@router.get("/v1/tasks", response_model=TaskPage)
async def work_list(
    platform: PlatformDep,
    principal: PrincipalDep,
    status: Literal["open", "overdue", "closed"] | None = None,
    province: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
    ward: Annotated[str | None, Query(pattern=r"^[0-9]{5}$")] = None,
    *,
    kind: Literal["verification", "child_return"] | None = None,
) -> TaskPage:
    """Verification and child-return tasks within the caller's area, soonest due first; each
    with its legal steps (``due_on`` is the step under way's). Child protection (a support
    officer) sees only the children's returns."""
    if principal.role is Role.SUPPORT_OFFICER:
        if kind not in (None, "child_return"):
            raise forbidden("A support officer sees only child-return tasks")
        kind = "child_return"
    area = principal.area
    if (area.province and province not in (None, area.province)) or (
        area.ward and ward not in (None, area.ward)
    ):
        raise forbidden("The area asked for is outside the client's area")
    async with platform.database.reading() as session:
        rows = await store.list_tasks(
            session, status, area.province or province, area.ward or ward, limit=500, kind=kind
        )
    return TaskPage(tasks=[api_steps.jsonable(row._asdict()) for row in rows])


class Measure(StrEnum):
    CONFIDENTIALITY = "confidentiality"
    GUARD = "guard"
    TEMPORARY_SHELTER = "temporary_shelter"
    RELOCATION = "relocation"
    CLOSED_HEARING = "closed_hearing"


class ProtectedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    relation: Literal["victim", "accompanying_minor", "close_relative"]
    count: int = Field(ge=1, le=100)


class ProtectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    measures: list[Measure] = Field(min_length=1, max_length=len(Measure))
    protected: list[ProtectedIn] = Field(min_length=1, max_length=3)
    starts_on: date
    ends_on: date | None = None


class ProtectionOut(BaseModel):
    order_id: str
    case_id: str
    measures: list[str]
    protected: list[dict[str, Any]]
    starts_on: date
    ends_on: date | None
    ended_on: date | None


class EndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ended_on: date


@router.post(
    "/v1/cases/{case_id}/protection",
    status_code=201,
    response_model=ProtectionOut,
    responses={403: {}, 404: {}, 409: {}, 422: {}},
)
async def order_protection(
    case_id: str, order: ProtectionIn, platform: PlatformDep, principal: PrincipalDep
) -> Any:
    """Order protection for the victim, accompanying minors and close relatives."""
    found = await _case_to_act_on(platform, principal, case_id)
    if isinstance(found, JSONResponse):
        return found
    _, received_on = found
    if order.starts_on < received_on or (order.ends_on and order.ends_on < order.starts_on):
        return _refused(DecisionRefused("starts_on", "the period must start after reception "
                                        "and end after it starts"))  # fmt: skip
    order_id = str(uuid7())
    measures = [str(m) for m in order.measures]
    protected = [p.model_dump() for p in order.protected]
    values = {
        "order_id": order_id, "case_id": case_id, "measures": measures, "protected": protected,
        "starts_on": order.starts_on, "ends_on": order.ends_on, "ended_on": None,
        "ordered_by": principal.client_id,
    }  # fmt: skip
    async with platform.unit_of_work() as uow:
        await store.add_order(uow.session, values)
        ordered = ProtectionOrdered(
            case_id=case_id, order_id=order_id, measures=measures,
            protected=[Protected(**p) for p in protected],
            starts_on=order.starts_on, ends_on=order.ends_on,
        )  # fmt: skip
        await uow.emit(ordered, subject=case_id, time=business_time(order.starts_on))
    return ProtectionOut(**values)


@router.post(
    "/v1/cases/{case_id}/protection/{order_id}/end",
    response_model=ProtectionOut,
    responses={403: {}, 404: {}, 409: {}, 422: {}},
)
async def end_protection(
    case_id: str, order_id: str, end: EndIn, platform: PlatformDep, principal: PrincipalDep
) -> Any:
    """End a protection order."""
    case = await known_case(platform.database, case_id)
    if case is None:
        return problem(404, "No such case here", kind="not-found")
    ensure_area(principal, case.province, case.ward, case_id)
    try:
        async with platform.unit_of_work() as uow:
            order = await store.order_of(uow.session, case_id, order_id)
            if order is None:
                raise LookupError
            if end.ended_on < order.starts_on:
                raise ValueError
            if not await store.end_order(uow.session, order_id, end.ended_on):
                raise Undecidable
            ended = ProtectionEnded(case_id=case_id, order_id=order_id, ended_on=end.ended_on)
            await uow.emit(ended, subject=case_id, time=business_time(end.ended_on))
    except LookupError:
        return problem(404, "No such protection order", kind="not-found")
    except Undecidable:
        return problem(409, "The protection order has already ended", kind="conflict")
    except ValueError:
        return _refused(DecisionRefused("ended_on", "is before the order started"))
    return ProtectionOut(**(order._asdict() | {"ended_on": end.ended_on}))


class Undecidable(Exception):
    pass
