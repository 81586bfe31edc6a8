"""Access tokens: short-lived JWTs signed by intake (ES256), verified by every service itself.

Keys come from a JWKS (intake's ``/.well-known/jwks.json``), cached and refreshed when a token
names a key id not yet seen, so intake can rotate keys without downtime. Revoked clients are
read from Redis every few seconds, so revocation does not wait for token expiry.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
from redis.asyncio import Redis

from shared.access import Area, Principal, Role
from shared.names import REVOKED_CLIENTS

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
AUDIENCE = "urn:safereturn:api"
ISSUER = "urn:safereturn:intake"
UNKNOWN_KID_REFETCH_S = 1.0
"""At most one JWKS fetch per second for key ids not seen yet (bogus ids cannot flood intake)."""

KEYS_MAX_AGE_S = 3600.0
"""Keys that could not be refreshed for this long are no longer trusted."""

JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


class TokenError(Exception):
    """A token that must be refused; ``reason`` is a code safe to log and audit. ``subject``
    is its client when intake's signature on it held (expired, revoked, for someone else):
    what its failures may be counted against, since nobody else can make such a token."""

    def __init__(self, reason: str, subject: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.subject = subject


SIGNED_BUT_REFUSED: tuple[type[jwt.PyJWTError], ...] = (
    jwt.ExpiredSignatureError,
    jwt.ImmatureSignatureError,
    jwt.InvalidAudienceError,
    jwt.InvalidIssuerError,
    jwt.InvalidIssuedAtError,
    jwt.MissingRequiredClaimError,
)
"""PyJWT checks claims only once the signature held: these come from a token intake signed."""


def http_jwks(url: str) -> JwksFetcher:
    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(url)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
            return document

    return fetch


class TokenVerifier:
    """Checks signature, expiry, issuer, audience and revocation; yields the principal."""

    def __init__(
        self,
        jwks: JwksFetcher,
        redis: "Redis",
        *,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
        keys_ttl_s: float = 300.0,
        revocations_ttl_s: float = 2.0,
        on_refresh_failed: Callable[[], None] = lambda: None,
    ) -> None:
        self._fetch = jwks
        self._redis = redis
        self.audience = audience
        self.issuer = issuer
        self._keys_ttl_s = keys_ttl_s
        self._revocations_ttl_s = revocations_ttl_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_at = float("-inf")
        self._attempted_at = float("-inf")
        self._revoked: set[str] = set()
        self._revoked_at = float("-inf")
        self._lock = asyncio.Lock()
        self._on_refresh_failed = on_refresh_failed

    async def verify(self, token: str, *, at: float | None = None) -> Principal:
        """The token's principal; expiry judged at ``at`` (a Unix time, never later than now)
        when given, for a request that was made then and is only read now. Revocation is
        judged now, whenever the request was made."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise TokenError("malformed") from None
        key = await self._key(str(kid))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "jti", "aud", "iss"],
                         "verify_exp": at is None},
            )  # fmt: skip
            if at is not None and _expired_at(claims["exp"], min(at, time.time())):
                raise jwt.ExpiredSignatureError
        except jwt.PyJWTError as error:
            raise _refusal(token, error) from None
        if claims["sub"] in await self._revoked_clients():
            raise TokenError("revoked", _subject(claims))
        try:
            return Principal(
                client_id=claims["sub"],
                role=Role(claims["role"]),
                agency=str(claims["agency"]),
                area=Area(claims.get("province"), claims.get("ward")),
                token_id=claims["jti"],
            )
        except (KeyError, ValueError):
            raise TokenError("invalid_claims", _subject(claims)) from None

    async def _key(self, kid: str) -> jwt.PyJWK:
        # A request that arrives while another one fetches the keys waits for that fetch.
        if self._needs_refresh(kid) or (kid not in self._keys and self._lock.locked()):
            async with self._lock:
                if self._needs_refresh(kid):  # another request may have refreshed meanwhile
                    await self._refresh_keys()
        if time.monotonic() - self._keys_at > KEYS_MAX_AGE_S:
            raise TokenError("keys_unavailable")  # never trust keys that could not be renewed
        try:
            return self._keys[kid]
        except KeyError:
            raise TokenError("unknown_key") from None

    def _needs_refresh(self, kid: str) -> bool:
        since_attempt = time.monotonic() - self._attempted_at
        if since_attempt < UNKNOWN_KID_REFETCH_S:
            return False  # at most one fetch a second, whatever the requests ask for
        return kid not in self._keys or time.monotonic() - self._keys_at > self._keys_ttl_s

    async def _refresh_keys(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            document = await self._fetch()
            keys = jwt.PyJWKSet.from_dict(document).keys
        except (httpx.HTTPError, jwt.PyJWTError, ValueError) as error:
            log.warning("could not refresh signing keys: %s", type(error).__name__)
            self._on_refresh_failed()
            return  # keep the keys we have until KEYS_MAX_AGE_S
        self._keys = {str(key.key_id): key for key in keys}
        self._keys_at = time.monotonic()

    async def _revoked_clients(self) -> set[str]:
        if time.monotonic() - self._revoked_at > self._revocations_ttl_s:
            members = await self._redis.hkeys(REVOKED_CLIENTS)
            self._revoked = {m.decode() if isinstance(m, bytes) else str(m) for m in members}
            self._revoked_at = time.monotonic()
        return self._revoked


def _refusal(token: str, error: jwt.PyJWTError) -> TokenError:
    if isinstance(error, jwt.ExpiredSignatureError):
        reason = "expired"
    elif isinstance(error, jwt.InvalidAudienceError):
        reason = "wrong_audience"
    else:
        reason = "invalid"
    if not isinstance(error, SIGNED_BUT_REFUSED):
        return TokenError(reason)
    claims = jwt.decode(token, options={"verify_signature": False})  # verified: see above
    return TokenError(reason, _subject(claims))


def _subject(claims: dict[str, Any]) -> str | None:
    sub = claims.get("sub")
    return sub[:64] if isinstance(sub, str) and sub else None


def _expired_at(exp: object, moment: float) -> bool:
    """As PyJWT judges ``exp``, at ``moment`` instead of now: expired from ``exp`` on."""
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise jwt.InvalidTokenError("exp is not a number")
    return int(exp) <= moment
