"""The disbursement ledger: payments against grants, budgets and their balances, totals."""

import hashlib
import json
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Header, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy.exc import IntegrityError
from uuid6 import uuid7

from services.support import domain, store
from services.support.api.common import jsonable, refused
from services.support.api.grants import MAX_AMOUNT
from services.support.domain import Refusal, Refused
from shared.events.base import business_time, business_today
from shared.events.support import SupportDisbursed
from shared.guard import PrincipalDep, ensure_area, forbidden
from shared.http import problem
from shared.runtime import Platform
from shared.webapp import PlatformDep

router = APIRouter()
FUNDING_SOURCE = r"^(state_budget|donor:[^\s:\x00-\x1f][^:\x00-\x1f]{0,79})$"


class Method(StrEnum):
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    POSTAL_ORDER = "postal_order"
    IN_KIND = "in_kind"


class DisbursementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(ge=1, le=MAX_AMOUNT, description="Integer VND")
    paid_at: date
    method: Method
    funding_source: str = Field(
        pattern=FUNDING_SOURCE, description="state_budget, or donor:<organisation>"
    )


class DisbursementOut(BaseModel):
    disbursement_id: str
    grant_id: str
    case_id: str
    kind: str
    amount: int
    paid_on: date
    method: str
    funding_source: str
    province: str


class DisbursedMetrics:
    """VND disbursed by kind and funding kind (state budget or donor): no cases, no people."""

    _of: ClassVar[WeakKeyDictionary[Platform, "DisbursedMetrics"]] = WeakKeyDictionary()

    def __init__(self, platform: Platform) -> None:
        meter = platform.telemetry.meter_provider.get_meter("safereturn.support")
        self.vnd = meter.create_counter(
            "safereturn_support_disbursed_vnd", unit="{VND}", description="VND disbursed"
        )

    @classmethod
    def of(cls, platform: Platform) -> "DisbursedMetrics":
        if platform not in cls._of:
            cls._of[platform] = cls(platform)
        return cls._of[platform]

    def paid(self, kind: str, source: str, amount: int) -> None:
        funding = "state_budget" if source == "state_budget" else "donor"
        self.vnd.add(amount, {"kind": kind, "funding": funding})


@router.post(
    "/v1/grants/{grant_id}/disbursements",
    status_code=201,
    response_model=DisbursementOut,
    responses={200: {"model": DisbursementOut, "description": "A retry: the payment already made"},
               403: {}, 404: {}, 409: {}, 422: {}},
)  # fmt: skip
async def disburse(
    grant_id: str,
    body: DisbursementIn,
    platform: PlatformDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=200)],
) -> Any:
    """Pay against an approved grant from a budget. A retry with the same ``Idempotency-Key``
    returns the first payment; the key with a different body is refused."""
    request = body.model_dump(mode="json") | {"grant_id": grant_id}  # a key pays one grant only
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode())
    request_hash = digest.hexdigest()
    async with platform.database.reading() as session:
        found = await store.grant(session, grant_id)
    if found is None:
        return problem(404, "No such grant", kind="not-found")
    ensure_area(principal, found.province, found.ward, found.case_id)
    try:
        async with platform.unit_of_work() as uow:
            earlier = await store.disbursement_by_key(uow.session, principal.client_id,
                                                      idempotency_key)  # fmt: skip
            if earlier is not None:
                return _replayed(earlier, request_hash)
            values = await _pay(uow, found, body, principal.client_id, idempotency_key)
            values["request_hash"] = request_hash
            await store.add_disbursement(uow.session, values)
    except Refused as error:
        return refused("The disbursement is refused", error.refusals)
    except IntegrityError:  # a concurrent retry with the same key committed first
        async with platform.database.reading() as session:
            earlier = await store.disbursement_by_key(session, principal.client_id,
                                                      idempotency_key)  # fmt: skip
        if earlier is None:
            raise
        return _replayed(earlier, request_hash)
    DisbursedMetrics.of(platform).paid(found.kind, body.funding_source, body.amount)
    return DisbursementOut(**values)


def _replayed(earlier: Any, request_hash: str) -> Any:
    if earlier.request_hash != request_hash:
        return problem(422, "The Idempotency-Key was used for another request",
                       kind="idempotency-key-reused",
                       errors=[{"field": "Idempotency-Key", "rule": "idempotency.reused",
                                "message": "use a new key for a new payment"}])  # fmt: skip
    return JSONResponse(jsonable_encoder(DisbursementOut(**earlier._asdict())), status_code=200,
                        headers={"Idempotent-Replayed": "true"})  # fmt: skip


async def _pay(
    uow: Any, grant: Any, body: DisbursementIn, client_id: str, key: str
) -> dict[str, Any]:
    """Check, then move the balances by conditional updates (which hold under concurrency)."""
    current = await store.grant(uow.session, grant.grant_id)
    if current.status != "approved":
        raise Refused(
            Refusal(
                "grant.not_approved",
                "grant_id",
                f"the grant is {current.status}: only approved grants are paid",
            )
        )
    if not grant.granted_on <= body.paid_at <= business_today():
        raise Refused(Refusal("paid_at.range", "paid_at", "must be between the grant and today"))
    year, source = body.paid_at.year, body.funding_source
    budget = await store.budget(uow.session, grant.province, year, source)
    domain.check_disbursement(
        current.amount,
        current.disbursed,
        body.amount,
        budget.amount if budget else None,
        budget.spent if budget else 0,
    )
    if not await store.pay_from_grant(uow.session, grant.grant_id, body.amount):
        raise Refused(Refusal("disbursement.above_grant", "amount", "the grant is paid up"))
    if not await store.spend_budget(uow.session, grant.province, year, source, body.amount):
        raise Refused(Refusal("budget.exceeded", "amount", "the budget is spent"))
    values = {
        "disbursement_id": str(uuid7()), "grant_id": grant.grant_id, "case_id": grant.case_id,
        "kind": grant.kind, "amount": body.amount, "paid_on": body.paid_at,
        "method": body.method, "funding_source": source, "province": grant.province,
        "client_id": client_id, "idempotency_key": key, "recorded_at": datetime.now(UTC),
    }  # fmt: skip
    fields = {k: v for k, v in values.items() if k in SupportDisbursed.model_fields}
    paid = SupportDisbursed(**fields, ward=grant.ward)
    await uow.emit(paid, subject=grant.case_id, time=business_time(body.paid_at))
    return values


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    province: str = Field(pattern=r"^[0-9]{2}$")
    year: StrictInt = Field(ge=2013, le=2100)
    funding_source: str = Field(pattern=FUNDING_SOURCE)
    amount: StrictInt = Field(ge=0, le=10**13, description="Integer VND allocated")


class BudgetOut(BaseModel):
    province: str
    year: int
    funding_source: str
    amount: int
    spent: int
    remaining: int


class BudgetPage(BaseModel):
    budgets: list[BudgetOut]


@router.put("/v1/budgets", response_model=BudgetOut, responses={403: {}, 409: {}, 422: {}})
async def set_budget(body: BudgetIn, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """Allocate a province's budget for a year from a funding source (never below what is
    already spent from it)."""
    if principal.area.province not in (None, body.province):
        raise forbidden("The province is outside the client's area")
    async with platform.unit_of_work() as uow:
        if not await store.set_budget(uow.session, body.province, body.year,
                                      body.funding_source, body.amount):  # fmt: skip
            return refused("The budget is refused", [Refusal(
                "budget.below_spent", "amount", "more than that is already spent")])  # fmt: skip
        row = await store.budget(uow.session, body.province, body.year, body.funding_source)
    return _budget(row)


def _budget(row: Any) -> BudgetOut:
    return BudgetOut(**jsonable(row), remaining=row.amount - row.spent)


@router.get("/v1/budgets", response_model=BudgetPage)
async def budgets(
    platform: PlatformDep,
    principal: PrincipalDep,
    province: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
    year: Annotated[int | None, Query(ge=2013, le=2100)] = None,
) -> BudgetPage:
    """Budgets with what is spent and what remains, within the caller's province."""
    own = principal.area.province
    if own and province not in (None, own):
        raise forbidden("The province is outside the client's area")
    async with platform.database.reading() as session:
        rows = await store.list_budgets(session, own or province, year)
    return BudgetPage(budgets=[_budget(row) for row in rows])


class LedgerLine(BaseModel):
    kind: str
    funding_source: str
    month: str = Field(description="YYYY-MM of payment")
    amount: int
    count: int


class LedgerOut(BaseModel):
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    province: str | None
    ward: str | None
    total: int
    by_kind: dict[str, int]
    by_funding_source: dict[str, int]
    by_month: dict[str, int]
    lines: list[LedgerLine]

    model_config = ConfigDict(populate_by_name=True)


@router.get("/v1/ledger", response_model=LedgerOut, response_model_by_alias=True)
async def ledger(
    platform: PlatformDep,
    principal: PrincipalDep,
    *,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    province: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
    ward: Annotated[str | None, Query(pattern=r"^[0-9]{5}$")] = None,
) -> Any:
    """VND disbursed between two payment dates, by kind, funding source and month; the totals
    equal the sum of the ``support.disbursed`` events."""
    area = principal.area
    if (area.province and province not in (None, area.province)) or (
        area.ward and ward not in (None, area.ward)
    ):
        raise forbidden("The area asked for is outside the client's area")
    if end < start:
        return refused("The period is refused", [Refusal("period.order", "to", "is before from")])
    province, ward = area.province or province, area.ward or ward
    async with platform.database.reading() as session:
        rows = await store.ledger(session, start, end, province, ward)
    lines = [LedgerLine(kind=r.kind, funding_source=r.funding_source,
                        month=f"{int(r.year):04d}-{int(r.month):02d}", amount=int(r.amount),
                        count=int(r.count)) for r in rows]  # fmt: skip
    lines.sort(key=lambda line: (line.month, line.kind, line.funding_source))
    return LedgerOut(
        start=start, end=end, province=province, ward=ward, total=sum(x.amount for x in lines),
        by_kind=_sum(lines, "kind"), by_funding_source=_sum(lines, "funding_source"),
        by_month=_sum(lines, "month"), lines=lines,
    )  # fmt: skip


def _sum(lines: list[LedgerLine], key: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for line in lines:
        totals[getattr(line, key)] = totals.get(getattr(line, key), 0) + line.amount
    return dict(sorted(totals.items()))
