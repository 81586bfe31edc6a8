"""Referrals to providers, follow-up visits, closure and reopening, and a case's support file."""

from datetime import date
from enum import StrEnum
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from uuid6 import uuid7

from services.support import domain, store
from services.support.api.common import case_in_area, facts_of, jsonable, refused
from services.support.domain import (
    REFERRAL_STEPS,
    ClosureReason,
    ReferralService,
    ReferralStep,
    Refusal,
    Refused,
)
from services.support.oversight import may_answer
from shared.events.base import business_time, business_today
from shared.events.support import (
    CaseClosed,
    CaseReopened,
    ReferralAccepted,
    ReferralCompleted,
    ReferralRejected,
    SupportReferred,
)
from shared.guard import PrincipalDep, ensure_area
from shared.http import problem
from shared.webapp import PlatformDep

router = APIRouter()
NOTE = Field(default=None, max_length=1000)
STEP_EVENTS = {
    ReferralStep.ACCEPT: ReferralAccepted,
    ReferralStep.REJECT: ReferralRejected,
    ReferralStep.COMPLETE: ReferralCompleted,
}


class ReferralIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: ReferralService
    provider: StrictStr = Field(min_length=2, max_length=200, description="The provider agency")
    referred_at: date
    reason: StrictStr | None = NOTE


class ReferralOut(BaseModel):
    referral_id: str
    case_id: str
    service: str
    provider: str
    status: str
    referred_on: date
    updated_on: date
    reason: str | None
    provider_note: str | None


def _in_period(day: date, start: date, field: str) -> Refusal | None:
    if start <= day <= business_today():
        return None
    return Refusal(f"{field}.range", field, f"must be between {start} and today")


@router.post("/v1/cases/{case_id}/referrals", status_code=201, response_model=ReferralOut,
             responses={403: {}, 404: {}, 409: {}, 422: {}})  # fmt: skip
async def refer(
    case_id: str, body: ReferralIn, platform: PlatformDep, principal: PrincipalDep
) -> Any:
    """Refer the person (chuyển tuyến) to a service provider."""
    case = await case_in_area(platform, principal, case_id)
    if isinstance(case, JSONResponse):
        return case
    async with platform.unit_of_work() as uow:
        facts = await facts_of(uow.session, case_id, lock=True)
        found = domain.referral_refusals(facts, body.service)
        if (late := _in_period(body.referred_at, facts.received_on, "referred_at")) is not None:
            found.append(late)
        active = {r.service for r in await store.referrals_of(uow.session, case_id)
                  if r.status in ("requested", "accepted")}  # fmt: skip
        if body.service in active:
            found.append(Refusal("referral.state", "service", "already referred and not done"))
        if found:
            return refused("The referral is refused", found)
        values = {"referral_id": str(uuid7()), "case_id": case_id, "service": body.service,
                  "provider": body.provider, "status": "requested",
                  "referred_on": body.referred_at, "updated_on": body.referred_at,
                  "reason": body.reason, "provider_note": None,
                  "referred_by": principal.client_id, "province": case.province,
                  "ward": case.ward}  # fmt: skip
        await store.add_referral(uow.session, values)
        event = SupportReferred(case_id=case_id, referral_id=values["referral_id"],
                                service=body.service, provider=body.provider,
                                referred_on=body.referred_at, child=facts.child,
                                province=case.province, ward=case.ward)  # fmt: skip
        await uow.emit(event, subject=case_id, time=business_time(body.referred_at))
    return ReferralOut(**values)


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date
    note: StrictStr | None = NOTE


@router.post("/v1/referrals/{referral_id}/{step}", response_model=ReferralOut,
             responses={403: {}, 404: {}, 409: {}, 422: {}})  # fmt: skip
async def referral_step(
    referral_id: str, step: ReferralStep, body: StepIn, platform: PlatformDep,
    principal: PrincipalDep,
) -> Any:  # fmt: skip
    """The provider accepts or rejects a referral, then completes it, with its note."""
    async with platform.database.reading() as session:
        found = await store.referral(session, referral_id)
    if found is None or not may_answer(principal, found.provider):
        # Another agency's referral is answered as one that does not exist: 403 would tell a
        # provider that someone was referred, and where to.
        return problem(404, "No such referral", kind="not-found")
    ensure_area(principal, found.province, found.ward, found.case_id)
    expected, status = REFERRAL_STEPS[step]
    if (late := _in_period(body.on, found.updated_on, "on")) is not None:
        return refused("The step is refused", [late])
    changes = {"status": status, "updated_on": body.on, "provider_note": body.note}
    async with platform.unit_of_work() as uow:
        if not await store.move_referral(uow.session, referral_id, expected, changes):
            return refused(
                "The step is refused",
                [
                    Refusal(
                        "referral.state",
                        "step",
                        f"the referral is {found.status}: {step} is not possible",
                    )
                ],
            )
        event = STEP_EVENTS[step](
            case_id=found.case_id,
            referral_id=referral_id,
            service=found.service,
            provider=found.provider,
            on=body.on,
        )
        await uow.emit(event, subject=found.case_id, time=business_time(body.on))
    return ReferralOut(**(jsonable(found) | changes))


class Situation(StrEnum):
    STABLE = "stable"
    NEEDS_SUPPORT = "needs_support"
    AT_RISK = "at_risk"
    UNREACHABLE = "unreachable"


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visited_on: date
    situation: Situation
    retrafficking_risk: StrictBool = Field(
        description="Raise (or clear) the re-trafficking risk flag"
    )
    note: StrictStr | None = NOTE


class FollowUpOut(FollowUpIn):
    visit_id: str
    case_id: str


@router.post("/v1/cases/{case_id}/follow-ups", status_code=201, response_model=FollowUpOut,
             responses={403: {}, 404: {}, 422: {}})  # fmt: skip
async def follow_up(
    case_id: str, body: FollowUpIn, platform: PlatformDep, principal: PrincipalDep
) -> Any:
    """Record a follow-up visit; its risk assessment sets the case's re-trafficking flag."""
    case = await case_in_area(platform, principal, case_id)
    if isinstance(case, JSONResponse):
        return case
    assert case.received_on is not None
    if (late := _in_period(body.visited_on, case.received_on, "visited_on")) is not None:
        return refused("The visit is refused", [late])
    visit_id = str(uuid7())
    async with platform.unit_of_work() as uow:
        await store.add_follow_up(uow.session, {**body.model_dump(), "visit_id": visit_id,
                                                "case_id": case_id,
                                                "recorded_by": principal.client_id})  # fmt: skip
        await store.update_case(uow.session, case_id, retrafficking_risk=body.retrafficking_risk)
    return FollowUpOut(**body.model_dump(), visit_id=visit_id, case_id=case_id)


class ClosureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ClosureReason
    closed_on: date
    note: StrictStr | None = NOTE


class ReopeningIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reopened_on: date
    reason: StrictStr = Field(min_length=3, max_length=500)


@router.post("/v1/cases/{case_id}/closure", response_model=dict[str, Any],
             responses={403: {}, 404: {}, 409: {}, 422: {}})  # fmt: skip
async def close(
    case_id: str, body: ClosureIn, platform: PlatformDep, principal: PrincipalDep
) -> Any:
    """Close the case (on reintegration, or another reason); a child needs a child-protection
    referral first."""
    case = await case_in_area(platform, principal, case_id)
    if isinstance(case, JSONResponse):
        return case
    async with platform.unit_of_work() as uow:
        facts = await facts_of(uow.session, case_id, lock=True)
        services = {r.service: r.status for r in await store.referrals_of(uow.session, case_id)}
        try:
            domain.check_closure(facts, body.reason, services, body.closed_on, business_today())
        except Refused as error:
            return refused("The closure is refused", error.refusals)
        await store.update_case(uow.session, case_id, closed_on=body.closed_on,
                                closure_reason=body.reason)  # fmt: skip
        closed = CaseClosed(case_id=case_id, closed_on=body.closed_on, reason=body.reason,
                            retrafficking_risk=facts.retrafficking_risk)  # fmt: skip
        await uow.emit(closed, subject=case_id, time=business_time(body.closed_on))
    return {"case_id": case_id, "closed_on": body.closed_on, "reason": body.reason}


@router.post("/v1/cases/{case_id}/reopening", response_model=dict[str, Any],
             responses={403: {}, 404: {}, 409: {}, 422: {}})  # fmt: skip
async def reopen(
    case_id: str, body: ReopeningIn, platform: PlatformDep, principal: PrincipalDep
) -> Any:
    """Reopen a closed case, with the reason."""
    case = await case_in_area(platform, principal, case_id)
    if isinstance(case, JSONResponse):
        return case
    async with platform.unit_of_work() as uow:
        row = await store.case_facts(uow.session, case_id)
        if row.closed_on is None:
            return refused("The reopening is refused", [Refusal(
                "case.open", "case_id", "the case is not closed")])  # fmt: skip
        if not row.closed_on <= body.reopened_on <= business_today():
            return refused(
                "The reopening is refused",
                [
                    Refusal(
                        "reopened_on.range", "reopened_on", "must be between the closure and today"
                    )
                ],
            )
        await store.update_case(uow.session, case_id, closed_on=None, closure_reason=None)
        event = CaseReopened(case_id=case_id, reopened_on=body.reopened_on)
        await uow.emit(event, subject=case_id, time=business_time(body.reopened_on))
    return {"case_id": case_id, "reopened_on": body.reopened_on}


@router.get("/v1/cases/{case_id}/support", response_model=dict[str, Any],
            responses={403: {}, 404: {}})  # fmt: skip
async def support_file(case_id: str, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """The case's support file: coded facts, grants, payments, referrals, visits, closure."""
    case = await case_in_area(platform, principal, case_id)
    if isinstance(case, JSONResponse):
        return case
    async with platform.database.reading() as session:
        facts = await facts_of(session, case_id)
        row = await store.case_facts(session, case_id)
        grants = await store.grants_of(session, case_id)
        referrals = await store.referrals_of(session, case_id)
        visits = await store.follow_ups_of(session, case_id)
    return {
        "case_id": case_id, "status": facts.status, "regime": domain.regime_of(facts),
        "identified_on": facts.identified_on, "child": facts.child,
        "accompanying_minors": facts.accompanying_minors,
        "poor_household": facts.poor_household, "declined": sorted(facts.refused_kinds),
        "retrafficking_risk": facts.retrafficking_risk,
        "closed_on": row.closed_on, "closure_reason": row.closure_reason,
        "grants": [jsonable(g) for g in grants],
        "referrals": [jsonable(r) for r in referrals],
        "follow_ups": [jsonable(v) for v in visits],
        "required_referrals": domain.required_referrals(facts),
    }  # fmt: skip
