"""Identity and access across the five service processes: tokens, roles, revocation, keys,
abuse limits and the audit trail. The role-by-endpoint cases come from the documented matrix."""

import asyncio
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import import_module

import httpx
import jwt
import pytest
import redis as redis_py
from cryptography.hazmat.primitives.asymmetric import ec

from safereturn import admin
from services.intake.identity import store
from shared.access import Matrix, Role, Rule
from shared.names import Service
from shared.settings import ServiceSettings
from shared.tokens import ALGORITHM, AUDIENCE, ISSUER
from tests.e2e.conftest import Services

MATRIX = Matrix.load(list(Service))
PUBLIC = {("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics"),
          ("POST", "/oauth/token"), ("GET", "/.well-known/jwks.json"),
          ("GET", "/dashboard")}  # fmt: skip
CHECK_ALL = "/asyncapi.json"  # an endpoint every role may call on every service


@cache
def role_tokens(platform: Services) -> dict[Role, str]:
    return {role: platform.token(role) for role in Role}


def call(platform: Services, rule: Rule, token: str | None) -> httpx.Response:
    url = platform.urls[rule.service] + rule.path.replace("{", "").replace("}", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if rule.method == "GET":
        return httpx.get(url, headers=headers)
    return httpx.request(rule.method, url, headers=headers, json={})


def everywhere(platform: Services, token: str) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {token}"}
    return {s: httpx.get(f"{platform.urls[s]}{CHECK_ALL}", headers=headers).status_code
            for s in Service}  # fmt: skip


def cases() -> list[object]:
    return [
        pytest.param(rule, role, id=f"{rule.service} {rule.method} {rule.path} as {role}")
        for rule in MATRIX.rules
        for role in Role
    ]


@pytest.mark.parametrize(("rule", "role"), cases())
def test_the_matrix_decides_who_may_call_each_endpoint(
    platform: Services, rule: Rule, role: Role
) -> None:
    response = call(platform, rule, role_tokens(platform)[role])
    if rule.allows(role):
        assert response.status_code not in {401, 403}, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("rule", MATRIX.rules, ids=lambda r: f"{r.service} {r.method} {r.path}")
def test_every_endpoint_needs_a_token(platform: Services, rule: Rule) -> None:
    for token in (None, "not-a-jwt"):
        response = call(platform, rule, token)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json() == {
            "type": "about:blank",
            "title": "The access token is missing, expired, revoked or invalid",
            "status": 401,
        }


def service_settings(service: Service) -> ServiceSettings:
    module = import_module(f"services.{service}.settings")
    (settings_class,) = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
    ]  # fmt: skip
    settings: ServiceSettings = settings_class(embedded=True)
    return settings


@pytest.mark.parametrize("service", list(Service))
def test_every_route_of_every_service_is_in_the_matrix(service: Service) -> None:
    app = import_module(f"services.{service}.app").create_app(service_settings(service))
    try:
        routes = {
            (method.upper(), path)
            for path, operations in app.openapi()["paths"].items()
            for method in operations
        }
    finally:
        app.state.platform.telemetry.shutdown()
    declared = {(rule.method, rule.path) for rule in MATRIX.for_service(service)}
    assert routes - PUBLIC == declared


async def forge(platform: Services, claims_change: dict[str, object], key: object = None) -> str:
    async with admin.database_of(Service.INTAKE) as database, database.transaction() as s:
        signing = (await store.signing_key_list(s))[-1]
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "sr-forged", "iat": int(now.timestamp()),
              "exp": int((now + timedelta(minutes=5)).timestamp()), "jti": "j1",
              "role": "admin", "agency": "Forgers"} | claims_change  # fmt: skip
    return jwt.encode(claims, key or signing.private_pem, ALGORITHM, headers={"kid": signing.kid})


def in_thread(coroutine: object) -> object:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()  # type: ignore[arg-type]


def test_a_forged_token_from_the_real_key_is_accepted_so_the_refusals_below_mean_something(
    platform: Services,
) -> None:
    role_tokens(platform)
    token = in_thread(forge(platform, {}))
    assert set(everywhere(platform, str(token)).values()) == {200}


@pytest.mark.parametrize(
    ("change", "own_key"),
    [
        ({"exp": int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())}, False),
        ({"aud": "urn:someone-else"}, False),
        ({"iss": "urn:someone-else"}, False),
        ({}, True),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "wrongly-signed"],
)
def test_bad_tokens_are_refused_by_every_service(
    platform: Services, change: dict[str, object], own_key: bool
) -> None:
    role_tokens(platform)
    key = ec.generate_private_key(ec.SECP256R1()) if own_key else None
    token = in_thread(forge(platform, change, key))
    assert set(everywhere(platform, str(token)).values()) == {401}


def test_a_revoked_client_is_refused_everywhere_within_seconds(platform: Services) -> None:
    client_id, secret = platform.new_client("reporter")
    token = platform.token_for(client_id, secret)
    assert set(everywhere(platform, token).values()) == {200}
    revoked = httpx.post(
        f"{platform.urls[Service.INTAKE]}/v1/clients/{client_id}/revoke",
        headers={"Authorization": f"Bearer {role_tokens(platform)[Role.ADMIN]}"},
    )
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False
    deadline = time.monotonic() + 5
    while set(everywhere(platform, token).values()) != {401}:
        assert time.monotonic() < deadline, "a revoked token is still accepted"
        time.sleep(0.2)
    refused = httpx.post(
        f"{platform.urls[Service.INTAKE]}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert refused.status_code == 401


def test_a_rotated_key_keeps_old_tokens_valid_and_new_ones_verify(platform: Services) -> None:
    old = role_tokens(platform)[Role.INTEGRATOR]
    in_thread(admin.rotate_keys(lambda _: None))
    new = platform.token(Role.INTEGRATOR)
    assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
    deadline = time.monotonic() + 3
    while set(everywhere(platform, new).values()) != {200}:
        assert time.monotonic() < deadline, "a token signed with the new key is refused"
        time.sleep(0.2)
    assert set(everywhere(platform, old).values()) == {200}
    keys = httpx.get(f"{platform.urls[Service.INTAKE]}/.well-known/jwks.json").json()["keys"]
    assert {jwt.get_unverified_header(t)["kid"] for t in (old, new)} <= {k["kid"] for k in keys}


def test_the_token_endpoint_speaks_oauth(platform: Services) -> None:
    client_id, secret = platform.new_client("analyst", "11", "00001")
    url = f"{platform.urls[Service.INTAKE]}/oauth/token"
    issued = httpx.post(url, data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"
    body = issued.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["role"], claims["province"], claims["ward"]) == ("analyst", "11", "00001")
    assert claims["exp"] - claims["iat"] == 600

    wrong_grant = httpx.post(url, data={"grant_type": "password"}, auth=(client_id, secret))
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")
    missing = httpx.post(url, data={"grant_type": "client_credentials"})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    no_grant = httpx.post(url, data={"client_id": client_id, "client_secret": secret})
    assert (no_grant.status_code, no_grant.json()["error"]) == (400, "invalid_request")
    both = httpx.post(
        url,
        data={"grant_type": "client_credentials", "client_id": client_id},
        auth=(client_id, secret),
    )
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")
    malformed = httpx.post(
        url, data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic %%%"}
    )
    assert (malformed.status_code, malformed.json()["error"]) == (401, "invalid_client")


def test_failed_logins_are_throttled(platform: Services) -> None:
    client_id, secret = platform.new_client("reporter")
    url = f"{platform.urls[Service.INTAKE]}/oauth/token"
    for _ in range(5):
        bad = httpx.post(url, data={"grant_type": "client_credentials", "client_id": client_id,
                                    "client_secret": "guess"})  # fmt: skip
        assert (bad.status_code, bad.json()["error"]) == (401, "invalid_client")
        assert secret not in bad.text
    throttled = httpx.post(url, data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0


def test_the_audit_log_records_who_did_what_and_failed_logins(platform: Services) -> None:
    auditor = {"Authorization": f"Bearer {role_tokens(platform)[Role.AUDITOR]}"}
    url = f"{platform.urls[Service.INTAKE]}/v1/audit"
    records = httpx.get(url, headers=auditor, params={"limit": 1000}).json()["records"]
    outcomes = {(r["action"], r["outcome"]) for r in records}
    assert ("POST /oauth/token", "failed_login") in outcomes
    assert ("POST /oauth/token", "success") in outcomes
    assert ("POST /v1/clients/{client_id}/revoke", "success") in outcomes
    assert ("POST /v1/diagnostics/probes", "denied") in outcomes
    assert ("GET /v1/diagnostics/probes/{probe_id}", "unauthenticated") in outcomes
    exports = httpx.get(url, headers=auditor, params={"action": "GET /v1/audit"}).json()
    assert exports["records"], "reading the audit log is itself an audited export"
    failed = httpx.get(url, headers=auditor, params={"outcome": "failed_login"}).json()["records"]
    assert failed
    assert {r["reason"] for r in failed} <= {"bad_credentials", "revoked"}
    for odd in ({"since": "2026-01-01T00:00:00"}, {"after_seq": str(2**63)}):
        answer = httpx.get(url, headers=auditor, params=odd)  # naive time, beyond any sequence
        assert (answer.status_code, answer.json()["errors"][0]["field"]) == (422, next(iter(odd)))


def test_the_audit_chains_verify_and_detect_tampering(platform: Services) -> None:
    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "safereturn", "audit", "verify"],
            env=platform.env, capture_output=True, text=True, check=False,
        )  # fmt: skip

    intact = verify()
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert intact.stdout.count("audit chain intact") == 5

    with sqlite3.connect(platform.logs / "verification.db") as connection:
        connection.execute("UPDATE audit_log SET outcome = 'success' WHERE seq = 1")
    broken = verify()
    assert broken.returncode == 1
    assert "verification  audit chain BROKEN at record 1" in broken.stdout


def test_no_client_secret_is_stored_or_logged_in_plain_text(platform: Services) -> None:
    secrets = [secret for _, secret in platform.issued]
    assert len(secrets) >= len(Role)
    stored = [path for path in platform.logs.rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" for path in stored)
    for path in stored:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, f"a client secret is in {path.name}"
    redis = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"])
    try:
        values = b"".join(_values(redis, key) for key in redis.scan_iter())
    finally:
        redis.close()
    assert values
    for secret in secrets:
        assert secret.encode() not in values


def _values(redis: redis_py.Redis, key: bytes) -> bytes:
    kind = redis.type(key)
    if kind == b"string":
        return bytes(redis.get(key) or b"")
    if kind == b"hash":
        return b" ".join(k + b"=" + v for k, v in redis.hgetall(key).items())
    if kind == b"stream":
        return b" ".join(b" ".join(fields.values()) for _, fields in redis.xrange(key))
    return b""


def test_each_client_is_rate_limited(services: Services) -> None:
    services.env["SAFERETURN_RATE_LIMIT_PER_MINUTE"] = "3"
    services.start(Service.INTAKE, Service.STATS)
    limited, other = services.auth("integrator"), services.auth("integrator")
    url = f"{services.urls[Service.STATS]}{CHECK_ALL}"
    codes = [httpx.get(url, headers=limited).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    refused = httpx.get(url, headers=limited)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert refused.headers["content-type"] == "application/problem+json"
    assert httpx.get(url, headers=other).status_code == 200  # limits are per client
