"""Notify's HTTP API: the agency directory, the delivery log for operators (no message bodies),
and replay of failed deliveries. Integrators' subscriptions: ``api_subscriptions``."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field, StrictStr

from services.notify import directory, egress, store
from services.notify.channels import new_webhook_secret
from services.notify.domain import REVIEW_ONLY, AgencyKind
from shared.cases import register_api
from shared.diagnostics import receipts
from shared.events import REGISTRY
from shared.guard import PrincipalDep, forbidden
from shared.http import problem
from shared.names import Stream
from shared.webapp import PlatformDep

router = APIRouter()
router.include_router(receipts)
router.include_router(register_api)

Province = Annotated[str, Field(pattern=r"^[0-9]{2}$")]
Ward = Annotated[str, Field(pattern=r"^[0-9]{5}$")]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9 ]{8,20}$")]
CASE_EVENTS = sorted(
    m.event_type for m in REGISTRY if m.stream == Stream.CASES and m.event_type not in REVIEW_ONLY
)


class AgencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=2, max_length=200)
    kind: AgencyKind
    province: Province | None = None
    ward: Ward | None = None
    emails: list[EmailStr] = Field(default_factory=list, max_length=10)
    phones: list[Phone] = Field(default_factory=list, max_length=10)
    webhooks: list[AnyHttpUrl] = Field(default_factory=list, max_length=5)
    language: Literal["vi", "en"] = "vi"


async def _internal(urls: list[str], request: Request, field: str) -> Any:
    """A problem if a webhook URL does not resolve, or resolves inside the platform's networks
    (unless allowed). Every delivery checks again: this only refuses what cannot work now."""
    allow = request.app.state.settings.webhook_allow_networks
    for url in urls:
        if await egress.internal_target(url, request.app.state.resolver, allow):
            return problem(422, "The request is invalid", kind="invalid-request",
                           detail=f"{field}: not a public address",
                           errors=[{"field": field, "message": "not a public address",
                                    "code": "internal_target"}])  # fmt: skip
    return None


class AgencyOut(BaseModel):
    agency_id: str
    name: str
    kind: str
    province: str | None
    ward: str | None
    emails: list[str]
    phones: list[str]
    webhooks: list[str]
    language: str
    webhook_secret: str | None = Field(
        default=None, description="Shown once, when webhooks are first given"
    )


def _agency_values(body: AgencyIn) -> dict[str, Any]:
    return body.model_dump(mode="json")


def _ensure_directory_area(principal: Any, province: str | None, ward: str | None) -> None:
    """An admin changes only the directory entries of its area (a national entry: a national
    admin), so a provincial admin cannot redirect another province's notifications."""
    area = principal.area
    if not area.covers(province, ward) or (area.province and not province):
        raise forbidden("The agency is outside the client's area")


@router.post("/v1/agencies", status_code=201, response_model=AgencyOut,
             responses={409: {}, 422: {}})  # fmt: skip
async def add_agency(
    body: AgencyIn, platform: PlatformDep, request: Request, principal: PrincipalDep
) -> Any:
    """Add an agency to the directory, with its channels."""
    _ensure_directory_area(principal, body.province, body.ward)
    if refused := await _internal([str(u) for u in body.webhooks], request, "webhooks"):
        return refused
    async with platform.unit_of_work() as uow:
        values, secret = await directory.add(uow.session, _agency_values(body))
    return AgencyOut(**values, webhook_secret=secret)


@router.get("/v1/agencies", response_model=list[AgencyOut])
async def list_agencies(
    platform: PlatformDep,
    province: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
    kind: AgencyKind | None = None,
) -> list[AgencyOut]:
    """The agency directory (never webhook secrets)."""
    async with platform.database.reading() as session:
        rows = await store.list_agencies(session, province=province, kind=kind)
    return [AgencyOut(**directory.shown(row)) for row in rows]


@router.put("/v1/agencies/{agency_id}", response_model=AgencyOut, responses={404: {}, 422: {}})
async def change_agency(
    agency_id: str, body: AgencyIn, platform: PlatformDep, request: Request,
    principal: PrincipalDep,
) -> Any:  # fmt: skip
    """Replace an agency's entry (its webhook secret is kept)."""
    _ensure_directory_area(principal, body.province, body.ward)
    if refused := await _internal([str(u) for u in body.webhooks], request, "webhooks"):
        return refused
    async with platform.unit_of_work() as uow:
        found = await store.agency(uow.session, agency_id)
        if found is None:
            return problem(404, "No such agency", kind="not-found")
        _ensure_directory_area(principal, found.province, found.ward)
        values = _agency_values(body)
        secret = None
        if values["webhooks"] and not found.webhook_secret:
            secret = new_webhook_secret()
            values["webhook_secret"] = secret
        await store.update_agency(uow.session, agency_id, values)
    return AgencyOut(**values | {"agency_id": agency_id, "webhook_secret": secret})


@router.delete(
    "/v1/agencies/{agency_id}", status_code=204, response_model=None, responses={404: {}}
)
async def remove_agency(agency_id: str, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """Remove an agency; deliveries already recorded for it fail as ``agency_removed``."""
    async with platform.unit_of_work() as uow:
        found = await store.agency(uow.session, agency_id)
        if found is not None:
            _ensure_directory_area(principal, found.province, found.ward)
        if not await store.remove_agency(uow.session, agency_id):
            return problem(404, "No such agency", kind="not-found")
    return Response(status_code=204)


class Notification(BaseModel):
    """One delivery: who, how, how it went. Never a message body."""

    delivery_id: str
    event_type: str
    case_id: str | None
    recipient: str
    recipient_name: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    latency_ms: int | None
    recorded_at: datetime
    sent_at: datetime | None


class NotificationPage(BaseModel):
    notifications: list[Notification]


@router.get("/v1/notifications", response_model=NotificationPage)
async def notifications(
    platform: PlatformDep,
    case_id: str | None = None,
    status: Literal["pending", "retrying", "sending", "sent", "failed", "missed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> NotificationPage:
    """The delivery log, for operators."""
    async with platform.database.reading() as session:
        rows = await store.list_deliveries(session, case_id=case_id, status=status, limit=limit)
    return NotificationPage(notifications=[Notification(**row._asdict()) for row in rows])


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_ids: list[str] | None = Field(
        default=None, max_length=1000, description="Failed deliveries to replay; all if absent"
    )


@router.post("/v1/notifications/replay", response_model=dict[str, int], responses={422: {}})
async def replay(body: ReplayIn, platform: PlatformDep) -> dict[str, int]:
    """Put failed deliveries back in the queue with fresh attempts (dead letters, replayed)."""
    async with platform.unit_of_work() as uow:
        count = await store.replay(uow.session, body.delivery_ids, datetime.now(UTC))
    return {"replayed": count}
