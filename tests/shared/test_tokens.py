"""Token verification: one key fetch however many requests wait for it; a failed one told."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from redis.asyncio import Redis

from shared.redis_server import free_port
from shared.tokens import ALGORITHM, AUDIENCE, ISSUER, TokenError, TokenVerifier, http_jwks

KEY = ec.generate_private_key(ec.SECP256R1())


def token(kid: str = "k1") -> str:
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "sr-1", "iat": int(now.timestamp()),
              "exp": int((now + timedelta(minutes=5)).timestamp()), "jti": "j",
              "role": "reporter", "agency": "Commune"}  # fmt: skip
    return jwt.encode(claims, KEY, ALGORITHM, headers={"kid": kid})


class SlowKeys:
    def __init__(self) -> None:
        self.fetches = 0

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        await asyncio.sleep(0.2)
        jwk = ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True) | {"kid": "k1", "alg": ALGORITHM}
        return {"keys": [jwk]}


async def test_concurrent_first_requests_share_one_key_fetch(redis: Redis) -> None:
    keys = SlowKeys()
    verifier = TokenVerifier(keys, redis)
    principals = await asyncio.gather(*(verifier.verify(token()) for _ in range(20)))
    assert {p.client_id for p in principals} == {"sr-1"}
    assert keys.fetches == 1


async def test_an_unknown_key_id_is_refused_without_refetching_at_once(redis: Redis) -> None:
    keys = SlowKeys()
    verifier = TokenVerifier(keys, redis)
    await verifier.verify(token())
    with pytest.raises(TokenError, match="unknown_key"):
        await verifier.verify(token("k-forged"))
    assert keys.fetches == 1


def timed_token(issued: datetime, lifetime: timedelta) -> str:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "sr-1", "iat": int(issued.timestamp()),
              "exp": int((issued + lifetime).timestamp()), "jti": "j", "role": "reporter",
              "agency": "Commune"}  # fmt: skip
    return jwt.encode(claims, KEY, ALGORITHM, headers={"kid": "k1"})


async def test_a_token_is_judged_at_the_time_given_never_later_than_now(redis: Redis) -> None:
    verifier = TokenVerifier(SlowKeys(), redis)
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    expired = timed_token(hour_ago, timedelta(minutes=5))
    with pytest.raises(TokenError, match="expired"):
        await verifier.verify(expired)
    at = (hour_ago + timedelta(minutes=4)).timestamp()
    assert (await verifier.verify(expired, at=at)).client_id == "sr-1"
    with pytest.raises(TokenError, match="expired"):  # from exp on, as PyJWT judges it
        await verifier.verify(expired, at=(hour_ago + timedelta(minutes=5)).timestamp())
    future = (datetime.now(UTC) + timedelta(hours=1)).timestamp()
    valid_now = timed_token(datetime.now(UTC), timedelta(minutes=30))
    assert (await verifier.verify(valid_now, at=future)).client_id == "sr-1"  # judged as now


async def test_a_failed_key_fetch_is_counted_and_the_request_refused(redis: Redis) -> None:
    """Intake's keys out of reach (a real refused connection): the request is refused, and
    the failure is told (``safereturn_jwks_refresh_failures``) for an operator's alert."""
    failures: list[None] = []
    unreachable = http_jwks(f"http://127.0.0.1:{free_port()}/.well-known/jwks.json")
    verifier = TokenVerifier(unreachable, redis, on_refresh_failed=lambda: failures.append(None))
    with pytest.raises(TokenError, match="keys_unavailable"):
        await verifier.verify(token())
    assert len(failures) == 1
