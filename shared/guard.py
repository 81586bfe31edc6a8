"""Every protected endpoint passes here: token, role, rate limit, then the audit record.

``authorize`` is a router-level dependency on every service router; the permission matrix
decides, and an endpoint missing from the matrix is refused to everyone (fail closed).
``AuditMiddleware`` records the outcome of each audited request once the status is known,
unless the request's unit of work already recorded it in the same transaction as its write.
"""

from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.access import AuditKind, Matrix, Principal
from shared.audit import AuditContext, AuditRecord, current_audit
from shared.ratelimit import RateLimiter
from shared.telemetry import current_trace_id
from shared.tokens import TokenError, TokenVerifier

BEARER_CHALLENGE = 'Bearer realm="safereturn", error="invalid_token"'
ALWAYS_AUDITED = {401: "unauthenticated", 403: "denied", 429: "rate_limited"}


class Guarded(Protocol):
    name: str
    matrix: Matrix
    verifier: TokenVerifier
    limiter: RateLimiter

    async def audit(self, record: AuditRecord) -> None: ...


def unauthenticated() -> HTTPException:
    return HTTPException(
        401,
        "The access token is missing, expired, revoked or invalid",
        headers={"WWW-Authenticate": BEARER_CHALLENGE},
    )


def forbidden(title: str = "The client may not do this") -> HTTPException:
    return HTTPException(403, title)


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def authorize(request: Request) -> Principal:
    """The caller, if its token is valid, its role may call this endpoint and it is in limits."""
    guarded: Guarded = request.app.state.platform
    route = request.scope["route"]
    rule = guarded.matrix.rule(guarded.name, request.method, route.path)
    audit = current_audit.get()
    if audit is not None:
        audit.action = f"{request.method} {route.path}"
        audit.rule = rule
        audit.success_status = route.status_code or 200
    if rule is None:
        raise forbidden("No client may call this endpoint")
    token = _bearer(request)
    try:
        if token is None:
            raise TokenError("missing")
        principal = await guarded.verifier.verify(token)
    except TokenError as error:
        if audit is not None:
            audit.reason = error.reason
        raise unauthenticated() from None
    if audit is not None:
        audit.principal = principal
    verdict = await guarded.limiter.hit(principal.client_id)
    if not verdict.allowed:
        raise HTTPException(
            429, "Too many requests", headers={"Retry-After": str(verdict.retry_after_s)}
        )
    if not rule.allows(principal.role):
        if audit is not None:
            audit.reason = "role"
        raise forbidden()
    return principal


PrincipalDep = Annotated[Principal, Depends(authorize)]


def ensure_area(principal: Principal, province: str | None, ward: str | None, case_id: str) -> None:
    """Refuse (403) a case outside the caller's area; the refusal is audited with the case."""
    audit = current_audit.get()
    if audit is not None:
        audit.case_id = case_id
    if not principal.area.covers(province, ward):
        if audit is not None:
            audit.reason = "area"
        raise forbidden("The case is outside the client's area")


def outcome(status: int) -> str:
    if status in ALWAYS_AUDITED:
        return ALWAYS_AUDITED[status]
    if status < 400:
        return "success"
    return "rejected" if status < 500 else "error"


class AuditMiddleware:
    """Opens an audit context per request and records it once the response status is known."""

    def __init__(self, app: ASGIApp, guarded: Any) -> None:
        self.app = app
        self.guarded: Guarded = guarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = AuditContext(
            service=self.guarded.name,
            action=f"{scope['method']} {scope['path']}",
            trace_id=current_trace_id(),
        )
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        reset = current_audit.set(context)
        try:
            await self.app(scope, receive, send_status)
        finally:
            current_audit.reset(reset)
            if self._needs_record(context, status):
                await self.guarded.audit(context.record(outcome(status), status))

    @staticmethod
    def _needs_record(context: AuditContext, status: int) -> bool:
        if context.recorded or context.rule is None:
            return False
        return status in ALWAYS_AUDITED or context.rule.audit is not AuditKind.NONE
