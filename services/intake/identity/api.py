"""Identity over HTTP: the OAuth 2.0 token endpoint (client credentials), the public signing
keys, and client administration."""

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus

import jwt
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.intake.identity import admin, domain, store
from services.intake.identity.domain import Client, IdentityError
from services.intake.settings import IntakeSettings
from shared.access import Role
from shared.audit import AuditRecord
from shared.http import problem
from shared.runtime import Platform
from shared.telemetry import current_trace_id
from shared.tokens import ALGORITHM, JwksFetcher
from shared.webapp import PlatformDep

public = APIRouter(tags=["identity"])
router = APIRouter(prefix="/v1/clients", tags=["identity"])

HASHING = asyncio.Semaphore(2)
"""Argon2 checks at once: each takes tens of MiB and most of a core."""

TOKEN_ENDPOINT = "POST /oauth/token"  # noqa: S105 - a route, not a secret


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int


def oauth_error(status: int, error: str, title: str, **headers: str) -> JSONResponse:
    """An RFC 9457 problem that also carries the RFC 6749 ``error`` code."""
    response = problem(status, title, kind=f"oauth-{error.replace('_', '-')}", error=error)
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response


class Refused(Exception):
    """A token request that gets ``response`` instead of a token."""

    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _credentials(
    request: Request, client_id: str | None, client_secret: str | None
) -> tuple[str, str]:
    """From HTTP Basic (RFC 6749 §2.3.1, form-encoded parts) or the body, never both."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        if client_id or client_secret:
            raise Refused(oauth_error(400, "invalid_request", "Use one way to authenticate"))
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Refused(
                oauth_error(401, "invalid_client", "Malformed Basic credentials")
            ) from None
        basic_id, _, basic_secret = decoded.partition(":")
        client_id, client_secret = unquote_plus(basic_id), unquote_plus(basic_secret)
    if not client_id or not client_secret:
        raise Refused(
            oauth_error(400, "invalid_request", "client_id and client_secret are required")
        )
    return client_id, client_secret


def _token_ttl(platform: Platform) -> timedelta:
    return timedelta(seconds=platform.settings.token_ttl_s)


async def _audit(platform: Platform, outcome: str, status: int, **who: str | None) -> None:
    record = AuditRecord(
        at=datetime.now(UTC),
        service=platform.name,
        action=TOKEN_ENDPOINT,
        outcome=outcome,
        status=status,
        trace_id=current_trace_id(),
        **who,
    )
    await platform.audit(record)


async def _refused(platform: Platform, client_id: str, reason: str) -> Refused:
    await _audit(platform, "failed_login", 401, client_id=client_id[:64], reason=reason)
    return Refused(
        oauth_error(
            401, "invalid_client", "Client authentication failed", **{"WWW-Authenticate": "Basic"}
        )
    )


async def _authenticate(
    request: Request, platform: Platform, client_id: str | None, client_secret: str | None
) -> Client:
    """The client whose credentials these are, or :class:`Refused` with the answer to give."""
    client_id, client_secret = _credentials(request, client_id, client_secret)
    address = request.client.host if request.client else "unknown"
    async with platform.database.reading() as session:
        found = await store.get_credentials(session, client_id)
    # Every attempt counts before the secret is checked, so parallel guesses cannot slip past
    # the limit; a successful one is forgiven. Counted against the client named (per address
    # first, so a client's own mistakes lock out only where they come from), never against an
    # address alone: behind a proxy that is everyone's. Only names of no client count against
    # the address, so spraying made-up ids is stopped without refusing any real client.
    attempts = (
        ((platform.login_failures, f"{client_id}@{address}"),
         (platform.client_login_failures, client_id))
        if found is not None
        else ((platform.address_login_failures, address),)
    )  # fmt: skip
    for limiter, subject in attempts:
        verdict = await limiter.hit(subject)
        if not verdict.allowed:
            raise Refused(oauth_error(
                429, "invalid_client", "Too many failed attempts",
                **{"Retry-After": str(verdict.retry_after_s)},
            ))  # fmt: skip
    async with HASHING:
        matches = await asyncio.to_thread(
            domain.secret_matches, found[1] if found else None, client_secret
        )
    if not matches or found is None:
        raise await _refused(platform, client_id, "bad_credentials")
    if not found[0].active:
        raise await _refused(platform, client_id, "revoked")
    for limiter, subject in attempts:
        await limiter.forgive(subject)
    return found[0]


@public.post("/oauth/token", response_model=TokenResponse, responses={400: {}, 401: {}, 429: {}})
async def issue_token(
    request: Request,
    platform: PlatformDep,
    grant_type: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
) -> Any:
    """OAuth 2.0 client credentials grant (RFC 6749 §4.4): a short-lived signed JWT."""
    if grant_type is None:
        missing = oauth_error(400, "invalid_request", "grant_type is required")
        return _answered(platform, missing, "invalid_request")
    if grant_type != "client_credentials":
        unsupported = oauth_error(400, "unsupported_grant_type",
                                  "Only client_credentials is supported")  # fmt: skip
        return _answered(platform, unsupported, "unsupported_grant_type")
    try:
        client = await _authenticate(request, platform, client_id, client_secret)
    except Refused as refused:
        return _answered(platform, refused.response)
    token, ttl = await _sign(platform, client)
    await _audit(
        platform, "success", 200,
        client_id=client.client_id, role=str(client.role), agency=client.agency,
    )  # fmt: skip
    body = TokenResponse(access_token=token, expires_in=int(ttl.total_seconds()))
    return _answered(platform, JSONResponse(
        body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    ))  # fmt: skip


OUTCOMES = {200: "success", 400: "invalid_request", 401: "failed_login", 429: "rate_limited"}


def _answered(
    platform: Platform, response: JSONResponse, outcome: str | None = None
) -> JSONResponse:
    """The answer, counted by its outcome (by its status unless told)."""
    platform.telemetry.metrics.token_answered(outcome or OUTCOMES[response.status_code])
    return response


async def _sign(platform: Platform, client: Client) -> tuple[str, timedelta]:
    ttl = _token_ttl(platform)
    async with platform.database.transaction() as session:
        key = await admin.current_signing_key(session)
    claims = domain.token_claims(client, datetime.now(UTC), ttl)
    token = jwt.encode(claims, key.private_pem, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, ttl


@public.get("/.well-known/jwks.json")
async def jwks(platform: PlatformDep) -> dict[str, Any]:
    """The public keys that verify tokens, current and recently retired."""
    async with platform.database.reading() as session:
        return await admin.published_jwks(session, _token_ttl(platform))


def local_signing_keys(platform: Platform) -> JwksFetcher:
    """Intake verifies tokens against its own key table rather than over HTTP. It keeps a
    retired key as long as a queued submission signed with it may still be judged (as of when
    its entry was added, within the submissions' maximum age), not only while its tokens live."""
    settings = platform.settings
    assert isinstance(settings, IntakeSettings)
    window = max(_token_ttl(platform), timedelta(seconds=settings.submission_max_age_s))

    async def fetch() -> dict[str, Any]:
        async with platform.database.reading() as session:
            return await admin.published_jwks(session, window)

    return fetch


def local_encryption_keys(
    platform: Platform, max_age: timedelta
) -> Callable[[], Awaitable[dict[str, str]]]:
    """The private keys that open submissions (key id → PEM): current and recently retired."""

    async def fetch() -> dict[str, str]:
        async with platform.database.reading() as session:
            return {key.kid: key.private_pem for key in await admin.opening_keys(session, max_age)}

    return fetch


class NewClient(BaseModel):
    agency: str = Field(min_length=1, max_length=200)
    role: Role
    province: str | None = Field(default=None, pattern=r"^[0-9]{2}$")
    ward: str | None = Field(default=None, pattern=r"^[0-9]{5}$")


class ClientOut(BaseModel):
    client_id: str
    agency: str
    role: Role
    province: str | None
    ward: str | None
    active: bool
    created_at: datetime
    secret_rotated_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, client: Client) -> "ClientOut":
        return cls(
            client_id=client.client_id,
            agency=client.agency,
            role=client.role,
            province=client.area.province,
            ward=client.area.ward,
            active=client.active,
            created_at=client.created_at,
            secret_rotated_at=client.secret_rotated_at,
            revoked_at=client.revoked_at,
        )


class ClientCredentials(ClientOut):
    client_secret: str = Field(description="Shown once; only a hash is kept")

    @classmethod
    def issued(cls, credentials: admin.Credentials) -> "ClientCredentials":
        out = ClientOut.of(credentials.client).model_dump()
        return cls(**out, client_secret=credentials.secret)


@router.get("", response_model=list[ClientOut])
async def list_clients(platform: PlatformDep) -> list[ClientOut]:
    async with platform.database.reading() as session:
        return [ClientOut.of(client) for client in await store.list_clients(session)]


@router.post("", status_code=201, response_model=ClientCredentials, responses={422: {}})
async def create_client(new: NewClient, platform: PlatformDep) -> Any:
    try:
        async with platform.unit_of_work() as uow:
            credentials = await admin.create_client(
                uow.session, new.agency, new.role, new.province, new.ward
            )
    except IdentityError as error:
        return problem(422, "The client is invalid", detail=str(error), kind="invalid-request")
    return ClientCredentials.issued(credentials)


@router.post("/{client_id}/revoke", response_model=ClientOut, responses={404: {}})
async def revoke_client(client_id: str, platform: PlatformDep) -> Any:
    try:
        async with platform.unit_of_work() as uow:
            client = await admin.revoke_client(uow.session, platform.redis, client_id)
    except LookupError:
        return problem(404, "No such client", kind="not-found")
    return ClientOut.of(client)


@router.post(
    "/{client_id}/rotate-secret", response_model=ClientCredentials, responses={404: {}, 409: {}}
)
async def rotate_secret(client_id: str, platform: PlatformDep) -> Any:
    try:
        async with platform.unit_of_work() as uow:
            credentials = await admin.rotate_secret(uow.session, client_id)
    except LookupError:
        return problem(404, "No such client", kind="not-found")
    except IdentityError as error:
        return problem(409, "The client is revoked", detail=str(error), kind="conflict")
    return ClientCredentials.issued(credentials)
