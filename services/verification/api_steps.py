"""A task's legal steps over HTTP: the agency concerned marks the step under way done, and the
next step's due date runs from that date as the law counts it."""

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.verification import store
from services.verification.handlers import today
from services.verification.procedures import Procedures, StepRefused, complete, task_values
from shared.access import Role
from shared.cases import case_to_act_on
from shared.guard import PrincipalDep, forbidden
from shared.http import problem
from shared.webapp import PlatformDep

router = APIRouter()


class StepDoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date = Field(
        description="The date of the step's request to the next step's agency (e.g. the "
        "social-affairs office's request to the police), or of its completion"
    )


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in row.items()}


@router.post(
    "/v1/tasks/{task_id}/steps/{step}/done",
    response_model=dict[str, Any],
    responses={403: {}, 404: {}, 409: {}, 422: {}},
)
async def step_done(
    task_id: str,
    step: str,
    done: StepDoneIn,
    *,
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> Any:
    """Mark the step under way done; the next step starts from its date (within the area)."""
    async with platform.database.reading() as session:
        task = await store.task_by_id(session, task_id)
    if task is None:
        return problem(404, "No such task here", kind="not-found")
    case = await case_to_act_on(platform.database, principal, task.case_id)
    if isinstance(case, JSONResponse):
        return case
    if task.kind == store.VERIFICATION and principal.role is not Role.VERIFIER:
        raise forbidden("A verification step is marked done by the verifying agencies")
    if task.status == "closed" or task.steps is None:
        return problem(409, "The task is closed, or predates recorded steps", kind="conflict")
    procedures: Procedures = request.app.state.procedures
    try:
        steps = complete(procedures, task.steps, step, done.on, today().date(),
                         last_ends_task=task.kind == store.CHILD_RETURN)  # fmt: skip
    except StepRefused as refused:
        kind = "conflict" if refused.status == 409 else "invalid-request"
        return problem(refused.status, "The step cannot be marked done", detail=str(refused),
                       kind=kind)  # fmt: skip
    values = task_values(steps, datetime.now(UTC))
    async with platform.unit_of_work() as uow:
        if not await store.advance(uow.session, task_id, step, values):
            return problem(409, "The step was marked done meanwhile", kind="conflict")
    return jsonable(task._asdict() | values)
