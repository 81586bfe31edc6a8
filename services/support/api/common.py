"""What every support route shares: the legal tables, a case's facts, refusals as problems."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.support import store
from services.support.domain import Facts, Refusal
from services.support.policies import Rule
from shared.access import Principal
from shared.cases import KnownCase, case_to_act_on
from shared.http import problem
from shared.runtime import Platform

CONFLICTS = ("case.", "grant.", "referral.state", "four_eyes", "application.")


@dataclass(frozen=True, slots=True)
class Policy:
    rules: list[Rule]
    approval_threshold: int


def policy_of(request: Request) -> Policy:
    policy: Policy = request.app.state.policy
    return policy


PolicyDep = Annotated[Policy, Depends(policy_of)]


async def case_in_area(
    platform: Platform, principal: Principal, case_id: str
) -> KnownCase | JSONResponse:
    """The case if this service knows it, within the caller's area and not merged; else the
    problem every service answers with (see shared.cases)."""
    return await case_to_act_on(platform.database, principal, case_id)


async def facts_of(session: AsyncSession, case_id: str, *, lock: bool = False) -> Facts:
    """The case's facts as the engine takes them. ``lock`` serialises writers of one case (on
    PostgreSQL; SQLite writers are serial anyway), so two grants cannot both take the last day."""
    if lock:
        await store.lock_case(session, case_id)
    row = await store.case_facts(session, case_id)
    return Facts(
        status=row.status,
        received_on=row.received_on,
        province=row.province,
        identified_on=row.identified_on,
        legacy_province=row.legacy_province,
        age=row.age,
        accompanying_minors=row.accompanying_minors or 0,
        poor_household=row.poor_household,
        consent_services=row.consent_services,
        refused_kinds=frozenset(row.refused_kinds or ()),
        closed=row.closed_on is not None,
        retrafficking_risk=bool(row.retrafficking_risk),
        granted=await store.granted_so_far(session, case_id),
        legal_status=row.legal_status,
        abroad=bool(row.abroad),
    )


def refused(title: str, refusals: tuple[Refusal, ...] | list[Refusal]) -> JSONResponse:
    """Every reason as RFC 9457 errors; 409 when the case's state is the obstacle."""
    status = 409 if all(r.rule.startswith(CONFLICTS) for r in refusals) else 422
    errors = [{"field": r.field, "rule": r.rule, "message": r.message} for r in refusals]
    detail = "; ".join(f"{r.rule}: {r.message}" for r in refusals)
    return problem(status, title, detail=detail, kind="refused", errors=errors)


def jsonable(row: Any) -> dict[str, Any]:
    values = row._asdict() if hasattr(row, "_asdict") else dict(row)
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in values.items()}
