"""Integrators' webhook subscriptions over HTTP, each only its owner's: subscribe (the signing
secret shown once), read, pause and resume, enable again after notify disabled it, replay what
it did not get within a time range, ping, delete."""

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, EmailStr, Field
from uuid6 import uuid7

from services.notify import domain, egress, outages, store
from services.notify.api import CASE_EVENTS, Province, Ward, _internal
from services.notify.channels import Channels, DeliveryError, new_webhook_secret
from shared.events.base import business_today
from shared.guard import PrincipalDep, forbidden
from shared.http import problem
from shared.ratelimit import RateLimiter
from shared.webapp import PlatformDep

router = APIRouter()


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    event_types: list[str] = Field(min_length=1, max_length=len(CASE_EVENTS) + 1,
                                   description="Case event types, or ['*'] for all")  # fmt: skip
    province: Province | None = None
    ward: Ward | None = None
    contact_email: EmailStr | None = Field(
        default=None, description="Told by mail if notify disables the subscription"
    )


class SubscriptionOut(BaseModel):
    subscription_id: str
    url: str
    event_types: list[str]
    province: str | None
    ward: str | None
    status: Literal["active", "paused", "disabled"]
    contact_email: str | None = None
    disabled_at: datetime | None = Field(
        default=None, description="When notify disabled it (its deliveries kept failing)"
    )
    disabled_reason: str | None = Field(default=None, description="Why, coded: endpoint_failing")
    secret: str | None = Field(default=None, description="Shown once, at creation")


def _shown(row: Any, **changes: Any) -> SubscriptionOut:
    values = {name: getattr(row, name) for name in SubscriptionOut.model_fields if name != "secret"}
    return SubscriptionOut(**values | changes)


@router.post("/v1/subscriptions", status_code=201, response_model=SubscriptionOut,
             responses={403: {}, 422: {}})  # fmt: skip
async def subscribe(
    body: SubscriptionIn, platform: PlatformDep, principal: PrincipalDep, request: Request
) -> Any:
    """Subscribe a URL to case events within the client's area; the signing secret (Standard
    Webhooks) is shown once."""
    unknown = sorted(set(body.event_types) - {*CASE_EVENTS, "*"})
    if unknown:
        return problem(422, "The request is invalid", kind="invalid-request",
                       detail=f"Unknown event types: {', '.join(unknown)}",
                       errors=[{"field": "event_types", "message": "unknown event type",
                                "code": "unknown_event_type"}])  # fmt: skip
    area = principal.area
    if not area.covers(body.province, body.ward) or (area.province and not body.province):
        raise forbidden("The area asked for is outside the client's area")
    if refused := await _internal([str(body.url)], request, "url"):
        return refused
    values = {"subscription_id": str(uuid7()), "client_id": principal.client_id,
              "url": str(body.url), "event_types": sorted(set(body.event_types)),
              "province": body.province, "ward": body.ward, "secret": new_webhook_secret(),
              "status": "active", "created_at": datetime.now(UTC),
              "contact_email": body.contact_email}  # fmt: skip
    async with platform.unit_of_work() as uow:
        await store.add_subscription(uow.session, values)
    return SubscriptionOut(**values)


@router.get("/v1/subscriptions", response_model=list[SubscriptionOut])
async def my_subscriptions(platform: PlatformDep, principal: PrincipalDep) -> list[Any]:
    """The client's subscriptions (their secrets are never shown again)."""
    async with platform.database.reading() as session:
        rows = await store.subscriptions_of(session, principal.client_id)
    return [_shown(row) for row in rows]


async def _own(platform: Any, principal: Any, subscription_id: str) -> Any:
    async with platform.database.reading() as session:
        found = await store.subscription(session, subscription_id)
    if found is None or found.client_id != principal.client_id:
        return None
    return found


def _not_found() -> Any:
    return problem(404, "No such subscription", kind="not-found")


@router.get("/v1/subscriptions/{subscription_id}", response_model=SubscriptionOut,
            responses={404: {}})  # fmt: skip
async def subscription(subscription_id: str, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """One of the client's subscriptions: its status, and when and why it was disabled."""
    found = await _own(platform, principal, subscription_id)
    return _not_found() if found is None else _shown(found)


@router.post("/v1/subscriptions/{subscription_id}/pause", response_model=SubscriptionOut,
             responses={404: {}, 409: {}})  # fmt: skip
async def pause(subscription_id: str, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """Pause deliveries: they wait, none is lost."""
    return await _set_status(platform, principal, subscription_id, "paused")


@router.post("/v1/subscriptions/{subscription_id}/resume", response_model=SubscriptionOut,
             responses={404: {}, 409: {}})  # fmt: skip
async def resume(subscription_id: str, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """Resume deliveries, the waiting ones first."""
    return await _set_status(platform, principal, subscription_id, "active")


def _disabled() -> Any:
    return problem(409, "The subscription is disabled", kind="subscription-disabled",
                   detail="Its deliveries kept failing: enable it once its endpoint answers "
                   "(POST /v1/subscriptions/{id}/enable)")  # fmt: skip


async def _set_status(platform: Any, principal: Any, subscription_id: str, status: str) -> Any:
    """Pause or resume, in one conditional update: a subscription notify disabled meanwhile
    (another replica, between the read and the write) stays disabled, with a 409. Since when it
    fails is kept: only a delivery getting through, or enabling it, clears that, so pausing and
    resuming does not keep a dead endpoint from being disabled."""
    found = await _own(platform, principal, subscription_id)
    if found is None:
        return _not_found()
    if found.status == "disabled":
        return _disabled()
    async with platform.unit_of_work() as uow:
        changed = await store.set_status(uow.session, subscription_id, principal.client_id,
                                         status)  # fmt: skip
        if changed is None:  # disabled or deleted since read (refused here: audited so)
            gone = await store.subscription(uow.session, subscription_id) is None
            return _not_found() if gone else _disabled()
        if status == "active":
            await store.wake(uow.session, outages.recipient_key(subscription_id), datetime.now(UTC))
    return _shown(changed)


@router.post("/v1/subscriptions/{subscription_id}/enable", response_model=SubscriptionOut,
             responses={404: {}})  # fmt: skip
async def enable(subscription_id: str, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """Enable a subscription notify disabled: new events go to it again. What it missed
    meanwhile is not sent by this: replay it (``/replay``). An enabled one is left as it is."""
    found = await _own(platform, principal, subscription_id)
    if found is None:
        return _not_found()
    async with platform.unit_of_work() as uow:
        enabled = await outages.enable(uow.session, subscription_id)
    if not enabled:
        return _shown(found)
    return _shown(found, status="active", disabled_at=None, disabled_reason=None)


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime = Field(description="From this time (RFC 3339), included")
    until: AwareDatetime | None = Field(
        default=None, description="To this time (RFC 3339), excluded; now if absent"
    )
    all: bool = Field(
        default=False,
        description="Also what was delivered (false: only what failed or was missed while the "
        "subscription was disabled)",
    )


class ReplayOut(BaseModel):
    queued: int = Field(description="How many deliveries were queued again")


@router.post("/v1/subscriptions/{subscription_id}/replay", status_code=202,
             response_model=ReplayOut, responses={404: {}, 409: {}, 422: {}})  # fmt: skip
async def replay(
    subscription_id: str, body: ReplayIn, platform: PlatformDep, principal: PrincipalDep,
    request: Request,
) -> Any:  # fmt: skip
    """Queue again, with fresh attempts, the subscription's messages of a time range (when
    notify recorded each event for it) that it did not get, or all of them. Each keeps its
    ``webhook-id``, so a receiver drops what it already has."""
    found = await _own(platform, principal, subscription_id)
    if found is None:
        return _not_found()
    if found.status == "disabled":
        return _disabled()
    now = datetime.now(UTC)
    until = body.until or now
    settings = request.app.state.settings
    if why := domain.replay_range_error(body.since, until, now,
                                        settings.subscription_replay_max_range_s):  # fmt: skip
        return problem(422, "The request is invalid", kind="invalid-request", detail=why,
                       errors=[{"field": "until" if "until" in why else "since", "message": why,
                                "code": "bad_range"}])  # fmt: skip
    async with platform.unit_of_work() as uow:
        queued = await outages.replay(uow.session, subscription_id, body.since, until, now,
                                      everything=body.all)  # fmt: skip
    return ReplayOut(queued=queued)


class PingOut(BaseModel):
    delivered: bool = Field(description="Whether the endpoint answered 2xx; never why not")
    webhook_id: str


@router.post("/v1/subscriptions/{subscription_id}/ping", response_model=PingOut,
             responses={404: {}, 429: {}})  # fmt: skip
async def ping(
    subscription_id: str, platform: PlatformDep, principal: PrincipalDep, request: Request
) -> Any:
    """Send a signed test event to the subscription's URL now: delivered or not, answered
    after a fixed time, a few a minute (so it cannot probe what lies behind the URL)."""
    found = await _own(platform, principal, subscription_id)
    if found is None:
        return _not_found()
    settings = request.app.state.settings
    limiter = RateLimiter(platform.redis, "notify-ping", limit=settings.ping_rate_per_minute,
                          window_s=60)  # fmt: skip
    verdict = await limiter.hit(principal.client_id)
    if not verdict.allowed:
        refused = problem(429, "Too many test pings", kind="rate-limited")
        refused.headers["Retry-After"] = str(verdict.retry_after_s)
        return refused
    webhook_id = f"ping-{uuid7()}"
    message = {
        "specversion": "1.0",
        "id": webhook_id,
        "source": "/safereturn/notify",
        "type": "notification.test",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {"subscription_id": subscription_id, "on": business_today().isoformat()},
    }
    secret = store.subscription_secret(platform.vault, found)
    attempt = _ping(request, found.url, secret, message)
    delivered = await _constant_time(settings.ping_answer_s, attempt)
    return PingOut(delivered=delivered, webhook_id=webhook_id)


async def _ping(request: Request, url: str, secret: str, message: dict[str, Any]) -> bool:
    settings = request.app.state.settings
    async with egress.webhook_client(request.app.state.resolver,
                                     settings.webhook_allow_networks) as http:  # fmt: skip
        try:
            await Channels(settings, http, http).webhook(url, secret, message["id"], message)
        except DeliveryError:
            return False
    return True


async def _constant_time(seconds: float, attempt: Coroutine[Any, Any, bool]) -> bool:
    """The attempt's outcome, given after ``seconds`` exactly (an attempt still running then
    is cut and counts as not delivered): refused, unanswered and 404 look the same."""
    started = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(seconds):
            outcome = await attempt
    except TimeoutError:
        outcome = False
    await asyncio.sleep(max(0.0, seconds - (asyncio.get_running_loop().time() - started)))
    return outcome


@router.delete(
    "/v1/subscriptions/{subscription_id}", status_code=204, response_model=None,
    responses={404: {}},
)  # fmt: skip
async def unsubscribe(subscription_id: str, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """Delete a subscription; its undelivered messages are dropped as ``subscription_deleted``."""
    if await _own(platform, principal, subscription_id) is None:
        return _not_found()
    async with platform.unit_of_work() as uow:
        await store.remove_subscription(uow.session, subscription_id)
    return Response(status_code=204)
