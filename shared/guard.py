"""Every protected endpoint passes here: token, role, rate limit, then the audit record.

``authorize`` is a router-level dependency on every service router; the permission matrix
decides, and an endpoint missing from the matrix is refused to everyone (fail closed).
``AuditMiddleware`` records the outcome of each audited request once the status is known,
unless the request's unit of work already recorded it in the same transaction as its write.
"""

import logging
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.access import AuditKind, Matrix, Principal
from shared.audit import ALWAYS_AUDITED, AuditContext, AuditRecord, current_audit, outcome
from shared.http import problem
from shared.ratelimit import RateLimiter
from shared.telemetry import current_trace_id
from shared.tokens import TokenError, TokenVerifier

log = logging.getLogger(__name__)

BEARER_CHALLENGE = 'Bearer realm="safereturn", error="invalid_token"'


class Guarded(Protocol):
    name: str
    matrix: Matrix
    verifier: TokenVerifier
    limiter: RateLimiter
    unauthenticated: RateLimiter

    async def audit(self, record: AuditRecord) -> None: ...


def unauthenticated() -> HTTPException:
    return HTTPException(
        401,
        "The access token is missing, expired, revoked or invalid",
        headers={"WWW-Authenticate": BEARER_CHALLENGE},
    )


def forbidden(title: str = "The client may not do this") -> HTTPException:
    return HTTPException(403, title)


async def _authenticate(
    request: Request, guarded: Guarded, audit: AuditContext | None
) -> Principal:
    """A valid token always passes: failures are counted only once a token has failed, against
    its client when intake signed it (expired, revoked), else against the address. Behind a
    proxy the address is everyone's, and nobody's failures may refuse someone else's token."""
    token = _bearer(request)
    try:
        if token is None:
            raise TokenError("missing")
        return await guarded.verifier.verify(token)
    except TokenError as error:
        if audit is not None:
            audit.reason = error.reason
        address = request.client.host if request.client else "unknown"
        counted = f"client:{error.subject}" if error.subject else f"address:{address}"
        verdict = await guarded.unauthenticated.hit(counted)
        if not verdict.allowed:  # a flood of bad tokens: told to wait, not written row by row
            raise too_many(verdict.retry_after_s) from None
        raise unauthenticated() from None


def too_many(retry_after_s: int) -> HTTPException:
    return HTTPException(429, "Too many requests", headers={"Retry-After": str(retry_after_s)})


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
        audit.case_id = request.path_params.get("case_id")
        audit.rule = rule
        audit.success_status = route.status_code or 200
    if rule is None:
        raise forbidden("No client may call this endpoint")
    principal = await _authenticate(request, guarded, audit)
    if audit is not None:
        audit.principal = principal
    verdict = await guarded.limiter.hit(principal.client_id)
    if not verdict.allowed:
        raise too_many(verdict.retry_after_s)
    if not rule.allows(principal.role):
        if audit is not None:
            audit.reason = "role"
        raise forbidden()
    return principal


PrincipalDep = Annotated[Principal, Depends(authorize)]


def ensure_area(principal: Principal, province: str | None, ward: str | None, case_id: str) -> None:
    """Refuse (403) a case outside the caller's area; the refusal is audited with that case
    (otherwise the record keeps the case the request is about, from its path)."""
    audit = current_audit.get()
    covered = principal.area.covers(province, ward)
    if audit is not None and (audit.case_id is None or not covered):
        audit.case_id = case_id
    if not covered:
        if audit is not None:
            audit.reason = "area"
        raise forbidden("The case is outside the client's area")


def outside_area(errors: list[dict[str, str]]) -> JSONResponse:
    """403 for a write about a place outside the caller's area, naming the fields (RFC 9457);
    audited as a refusal for its area."""
    audit = current_audit.get()
    if audit is not None:
        audit.reason = "area"
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem(403, "The request is about a place outside the client's area",
                   detail=f"Outside the client's area: {fields}", kind="out-of-area",
                   errors=errors)  # fmt: skip


class AuditMiddleware:
    """Opens an audit context per request and records it once the response status is known.

    Reads of personal data and exports are recorded before the response starts: if the
    record cannot be written, the caller gets 503 instead of the data.
    """

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
        withheld = False

        async def send_audited(message: Message) -> None:
            nonlocal status, withheld
            if withheld:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                first = status < 400 and self._recorded_first(context)
                if first and not await self._record(context, status):
                    withheld = True
                    await self._unavailable(send)
                    return
            await send(message)

        reset = current_audit.set(context)
        try:
            await self.app(scope, receive, send_audited)
        finally:
            current_audit.reset(reset)
            if self._needs_record(context, status):
                await self._record(context, status)

    async def _record(self, context: AuditContext, status: int) -> bool:
        try:
            await self.guarded.audit(context.record(outcome(status), status))
        except Exception:
            log.exception("could not write an audit record for %s", context.action)
            return False
        context.recorded = True
        return True

    @staticmethod
    async def _unavailable(send: Send) -> None:
        response = problem(503, "The request could not be put on record; try again")
        await response({"type": "http"}, _nothing, send)

    @staticmethod
    def _recorded_first(context: AuditContext) -> bool:
        rule = context.rule
        sensitive = {AuditKind.PERSONAL_DATA, AuditKind.EXPORT}
        return rule is not None and not context.recorded and rule.audit in sensitive

    @staticmethod
    def _needs_record(context: AuditContext, status: int) -> bool:
        if context.recorded or context.rule is None:
            return False
        if status == 429 and context.principal is None:
            return False  # an anonymous flood: counted by the limiter, not written row by row
        return status in ALWAYS_AUDITED or context.rule.audit is not AuditKind.NONE


async def _nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
