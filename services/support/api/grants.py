"""The legal tables, what a person may still receive, grants and their four-eyes approval."""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from uuid6 import uuid7

from services.support import domain, store
from services.support.api.common import (
    PolicyDep,
    case_in_area,
    facts_of,
    jsonable,
    refused,
)
from services.support.domain import Assessment, GrantRequest, Refusal
from services.support.oversight import EarlierGrant, needs_second_officer, recorded_at
from services.support.policies import Kind, Regime, describe
from shared.events.base import business_time, business_today
from shared.events.support import SupportApproved, SupportGranted, SupportRejected
from shared.guard import PrincipalDep, ensure_area, forbidden
from shared.http import problem
from shared.webapp import PlatformDep

router = APIRouter()
MAX_AMOUNT = 1_000_000_000  # VND: anything larger is a typing error, not a grant


class PolicyRow(BaseModel):
    rule: str
    kind: Kind
    regime: Regime
    province: str | None
    legacy_province: str | None
    unit: str
    rate: int | None
    amount_known: bool
    minimum: int | None
    cap: dict[str, Any] | None
    groups: list[str]
    conditions: list[str]
    effective_from: date
    effective_to: date | None
    legal_basis: str
    start_known: bool = Field(description="False: the document's start is not in the sources")
    start_note: str | None = Field(description="Where the start is unknown: the day applied, why")


@router.get("/v1/policies", response_model=list[PolicyRow])
async def policies(
    policy: PolicyDep, kind: Kind | None = None, regime: Regime | None = None
) -> list[PolicyRow]:
    """The legal support tables in force on the platform, with their sources."""
    return [
        PolicyRow(
            **describe(rule),
            kind=rule.kind,
            province=rule.province,
            legacy_province=rule.legacy_province,
            groups=sorted(rule.groups),
            conditions=sorted(rule.conditions),
            effective_from=rule.effective_from,
            effective_to=rule.effective_to,
        )
        for rule in policy.rules
        if (kind is None or rule.kind == kind) and (regime is None or rule.regime == regime)
    ]


class Entitled(BaseModel):
    kind: Kind
    beneficiary: str
    rule: str
    unit: str
    rate: int | None = Field(description="VND per unit; null for actual costs or unknown rates")
    amount_known: bool
    cap: int | None
    remaining: int | None = Field(description="Units left under the cap; null: no cap")
    most: int | None = Field(description="The most still payable (VND), where the rate is known")
    legal_basis: str
    requires: list[dict[str, str]] = Field(
        description="Circumstances a grant must declare (rule, field, message)"
    )
    start_known: bool
    start_note: str | None


class NotEntitled(BaseModel):
    kind: Kind
    beneficiary: str
    reasons: list[dict[str, str]] = Field(description="Each refusal: rule, field, message")


class EntitlementsOut(BaseModel):
    case_id: str
    on: date
    regime: Regime
    status: str
    entitlements: list[Entitled]
    not_entitled: list[NotEntitled]
    required_referrals: list[str]


@router.get("/v1/cases/{case_id}/entitlements", response_model=EntitlementsOut,
            responses={403: {}, 404: {}})  # fmt: skip
async def entitlements(
    case_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    policy: PolicyDep,
    on: Annotated[date | None, Query(description="As of this day; today by default")] = None,
) -> Any:
    """What the person (and each accompanying minor) may still receive, and what not, why."""
    case = await case_in_area(platform, principal, case_id)
    if isinstance(case, JSONResponse):
        return case
    day = on or business_today()
    async with platform.database.reading() as session:
        facts = await facts_of(session, case_id)
    assessed = domain.entitlements(policy.rules, facts, day)
    return EntitlementsOut(
        case_id=case_id, on=day, regime=domain.regime_of(facts), status=facts.status,
        entitlements=[_entitled(a) for a in assessed if a.eligible and a.rule],
        not_entitled=[NotEntitled(kind=a.kind, beneficiary=a.beneficiary,
                                  reasons=[_reason(r) for r in a.refusals])
                      for a in assessed if not a.eligible],
        required_referrals=domain.required_referrals(facts),
    )  # fmt: skip


def _entitled(assessment: Assessment) -> Entitled:
    rule = assessment.rule
    assert rule is not None
    remaining = assessment.remaining
    most = rule.amount * remaining if rule.amount is not None and remaining is not None else None
    return Entitled(kind=assessment.kind, beneficiary=assessment.beneficiary, rule=rule.id,
                    unit=rule.unit, rate=rule.amount, amount_known=rule.amount_known,
                    cap=assessment.cap, remaining=remaining, most=most,
                    legal_basis=rule.legal_basis,
                    requires=[_reason(r) for r in assessment.requires],
                    start_known=rule.start_known, start_note=rule.start_note)  # fmt: skip


def _reason(refusal: Refusal) -> dict[str, str]:
    return {"rule": refusal.rule, "field": refusal.field, "message": refusal.message}


class Declinable(StrEnum):
    ALL = "all"


class CircumstancesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    poor_household: bool | None = Field(default=None, description="On a poor-household list")
    household_evidence: StrictStr | None = Field(
        default=None, max_length=100, description="The certificate's reference (no names)"
    )
    declined: list[Kind | Declinable] = Field(
        default_factory=list, max_length=len(Kind),
        description="Support the person refuses; 'all' to refuse every kind",
    )  # fmt: skip
    legal_status: Literal["vietnamese", "stateless_resident", "foreign"] | None = Field(
        default=None,
        description="Corrects or completes what intake coded (Law 53/2024 Art. 37, Decree "
        "09/2013 Art. 23); left out: unchanged",
    )
    abroad: StrictBool | None = Field(
        default=None,
        description="Whether the person is still abroad (false once back in Viet Nam); left "
        "out: unchanged",
    )


@router.put("/v1/cases/{case_id}/circumstances", response_model=CircumstancesIn,
            responses={403: {}, 404: {}, 422: {}})  # fmt: skip
async def record_circumstances(
    case_id: str, body: CircumstancesIn, platform: PlatformDep, principal: PrincipalDep
) -> Any:
    """Record the household's poverty, any support the person declines and, where intake's
    coding was missing or has changed, the legal status and whether the person is abroad."""
    case = await case_in_area(platform, principal, case_id)
    if isinstance(case, JSONResponse):
        return case
    if body.poor_household and not body.household_evidence:
        return refused("The circumstances are refused", [Refusal(
            "evidence.required", "household_evidence", "a poor household is shown by a certificate"
        )])  # fmt: skip
    facts = {"legal_status": body.legal_status, "abroad": body.abroad}
    async with platform.unit_of_work() as uow:
        await store.update_case(uow.session, case_id, poor_household=body.poor_household,
                                household_evidence=body.household_evidence,
                                refused_kinds=sorted(set(body.declined)),
                                **{k: v for k, v in facts.items() if v is not None})  # fmt: skip
    return body


class DeclaredIn(BaseModel):
    """Circumstances of this grant the officer declares, where the rule turns on them (see the
    entitlements' ``requires``); a rule that needs one refuses the grant without it."""

    model_config = ConfigDict(extra="forbid")

    financial_difficulty: StrictBool | None = Field(
        default=None, description="In financial difficulty (legal aid, Law 66/2011)"
    )
    unable_to_pay: StrictBool | None = Field(
        default=None, description="Unable to pay (travel and road meals, Law 53/2024)"
    )
    insured: StrictBool | None = Field(
        default=None, description="Already has health insurance (Law 53/2024)"
    )
    in_facility: StrictBool | None = Field(
        default=None, description="Staying at a support facility on the day (shelter meals)"
    )


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    quantity: StrictInt = Field(default=1, ge=1, le=366, description="Days, school years, or 1")
    granted_at: date
    beneficiary: str = Field(default="person", pattern=r"^(person|minor-[1-9][0-9]?)$")
    amount: StrictInt | None = Field(
        default=None, ge=1, le=MAX_AMOUNT,
        description="VND: the actual cost, or the amount where the law's rate is unknown here",
    )  # fmt: skip
    legal_basis: StrictStr | None = Field(
        default=None, min_length=3, max_length=300,
        description="The legal basis of an explicit amount",
    )  # fmt: skip
    receipt_ref: StrictStr | None = Field(default=None, min_length=1, max_length=100)
    declared: DeclaredIn = Field(default_factory=DeclaredIn)


class GrantOut(BaseModel):
    grant_id: str
    case_id: str
    kind: str
    beneficiary: str
    group: str
    quantity: int
    unit: str
    rate: int | None
    amount: int
    disbursed: int
    granted_on: date
    regime: str
    rule: str
    legal_basis: str
    receipt_ref: str | None
    status: Literal["pending_approval", "approved", "rejected"]
    granted_by: str
    decided_by: str | None
    decided_on: date | None
    declared: dict[str, bool] | None = None


@router.post(
    "/v1/cases/{case_id}/grants",
    status_code=201,
    response_model=GrantOut,
    responses={403: {}, 404: {}, 409: {}, 422: {}},
)
async def grant_support(
    case_id: str, body: GrantIn, platform: PlatformDep, principal: PrincipalDep, policy: PolicyDep
) -> Any:
    """Grant support as the law computes it, or every rule that refuses it. Once what the
    officer granted for the case and kind in twelve months passes the approval threshold, the
    grant waits for a second officer."""
    case = await case_in_area(platform, principal, case_id)
    if isinstance(case, JSONResponse):
        return case
    request = GrantRequest(kind=body.kind, quantity=body.quantity, granted_on=body.granted_at,
                           beneficiary=body.beneficiary, amount=body.amount,
                           basis=body.legal_basis, receipt=body.receipt_ref,
                           declared=body.declared.model_dump(exclude_none=True))  # fmt: skip
    async with platform.unit_of_work() as uow:
        facts = await facts_of(uow.session, case_id, lock=True)
        decision = domain.decide_grant(policy.rules, facts, request, business_today())
        if not decision.eligible:
            return refused("The grant is refused", decision.refusals)
        rule = decision.assessment.rule
        assert rule is not None
        # Four eyes over the officer's grants for the case and kind, not this grant alone:
        # the case is locked (facts_of), so concurrent splits are counted too.
        earlier = [
            EarlierGrant(row.amount, recorded_at(row.grant_id), row.status)
            for row in await store.grants_by(uow.session, case_id, body.kind, principal.client_id)
        ]
        pending = needs_second_officer(
            decision.amount, earlier, policy.approval_threshold, datetime.now(UTC)
        )
        values = {
            "grant_id": str(uuid7()), "case_id": case_id, "kind": body.kind,
            "beneficiary": body.beneficiary,
            "group": domain.group_of(facts, body.beneficiary, decision.assessment.regime),
            "quantity": body.quantity,
            "unit": rule.unit, "rate": decision.rate, "amount": decision.amount,
            "granted_on": body.granted_at, "regime": decision.assessment.regime,
            "rule": rule.id if rule.amount_known else f"{rule.id}+explicit",
            "legal_basis": decision.legal_basis, "receipt_ref": body.receipt_ref,
            "status": "pending_approval" if pending else "approved",
            "granted_by": principal.client_id, "decided_by": None, "decided_on": None,
            "decision_note": None, "province": case.province, "ward": case.ward,
            "declared": request.declared or None,
        }  # fmt: skip
        await store.add_grant(uow.session, values)
        granted = SupportGranted(
            **{k: values[k] for k in SupportGranted.model_fields if k in values}
        )
        await uow.emit(granted, subject=case_id, time=business_time(body.granted_at))
    return GrantOut(**values, disbursed=0)


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    decided_at: date
    note: StrictStr | None = Field(default=None, max_length=500)


@router.post(
    "/v1/grants/{grant_id}/approval",
    response_model=GrantOut,
    responses={403: {}, 404: {}, 409: {}, 422: {}},
)
async def approve(
    grant_id: str, body: ApprovalIn, platform: PlatformDep, principal: PrincipalDep
) -> Any:
    """The second officer approves or rejects a grant above the threshold (four eyes)."""
    async with platform.database.reading() as session:
        found = await store.grant(session, grant_id)
    if found is None:
        return problem(404, "No such grant", kind="not-found")
    ensure_area(principal, found.province, found.ward, found.case_id)
    if found.granted_by == principal.client_id:
        raise forbidden("Four eyes: the officer who granted may not approve")
    if not found.granted_on <= body.decided_at <= business_today():
        return refused("The decision is refused", [Refusal(
            "decided_at.range", "decided_at", "must be between the grant and today")])  # fmt: skip
    approved = body.decision == "approve"
    changes = {"status": "approved" if approved else "rejected",
               "decided_by": principal.client_id, "decided_on": body.decided_at,
               "decision_note": body.note}  # fmt: skip
    async with platform.unit_of_work() as uow:
        if not await store.decide_grant(uow.session, grant_id, changes):
            return refused("The grant is not waiting for approval", [Refusal(
                "grant.decided", "grant_id", f"the grant is {found.status}")])  # fmt: skip
        common = {"case_id": found.case_id, "grant_id": grant_id, "kind": found.kind,
                  "amount": found.amount}  # fmt: skip
        event = (SupportApproved(**common, approved_on=body.decided_at) if approved
                 else SupportRejected(**common, rejected_on=body.decided_at))  # fmt: skip
        await uow.emit(event, subject=found.case_id, time=business_time(body.decided_at))
    return GrantOut(**(jsonable(found) | changes))


class GrantPage(BaseModel):
    grants: list[GrantOut]


@router.get("/v1/grants", response_model=GrantPage)
async def list_grants(
    platform: PlatformDep,
    principal: PrincipalDep,
    status: Literal["pending_approval", "approved", "rejected"] | None = None,
    case_id: str | None = None,
) -> GrantPage:
    """Grants within the caller's area, e.g. those waiting for a second officer."""
    area = principal.area
    async with platform.database.reading() as session:
        rows = await store.list_grants(
            session, status=status, case_id=case_id, province=area.province, ward=area.ward
        )
    return GrantPage(grants=[GrantOut(**jsonable(row)) for row in rows])
