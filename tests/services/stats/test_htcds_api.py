"""``GET /v1/exports/htcds`` on a running stats service (real Redis, real database, in this
process, tokens signed by a key the service trusts): analysts only, within their area, periods
and k checked with problems naming the field, k-anonymous records as JSON or CSV."""

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm

from services.stats.app import create_app
from services.stats.settings import StatsSettings
from shared.tokens import ALGORITHM, AUDIENCE, ISSUER, TokenVerifier
from tests.services.stats.deliveries import consume, identified, received, sent

KEY = ec.generate_private_key(ec.SECP256R1())
FEB = date(2026, 2, 1)


async def keys() -> dict[str, Any]:
    jwk = ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True) | {"kid": "k1", "alg": ALGORITHM}
    return {"keys": [jwk]}


def bearer(role: str, province: str | None = None) -> dict[str, str]:
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"sr-{role}", "iat": int(now.timestamp()),
              "exp": int((now + timedelta(minutes=5)).timestamp()), "jti": f"j-{role}",
              "role": role, "agency": "Sở Y tế"}  # fmt: skip
    if province:
        claims["province"] = province
    token = jwt.encode(claims, KEY, ALGORITHM, headers={"kid": "k1"})
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def stats(
    redis_url: str, new_database_url: Callable[[], Awaitable[str]]
) -> AsyncIterator[FastAPI]:
    """The stats app, started on its own database, trusting this test's signing key; eleven
    women alike identified in February 2026 in province 11, and one man unlike them."""
    settings = StatsSettings(redis_url=redis_url, database_url=await new_database_url(),
                             jwks_url="http://127.0.0.1:9/.well-known/jwks.json")  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        platform = app.state.platform
        platform.verifier = TokenVerifier(keys, platform.redis)
        events = [sent(received(f"w-{n}", purposes=["forced_marriage"])) for n in range(11)]
        events.append(sent(received("m-0", sex="male", age=40, purposes=["forced_labour"])))
        events += [sent(identified(f"w-{n}", FEB)) for n in range(11)]
        events.append(sent(identified("m-0", FEB)))
        await consume(platform.database, events)
        yield app


async def get(app: FastAPI, headers: dict[str, str], **params: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://stats") as client:
        return await client.get("/v1/exports/htcds", params=params, headers=headers)


async def test_an_analyst_gets_the_k_anonymous_records_of_a_period_and_province(
    stats: FastAPI,
) -> None:
    answer = await get(stats, bearer("analyst", "11"), **{"from": "2026-01-01", "to": "2026-03-31"})
    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert export["k"] == 11
    assert export["standard"]["version"] == "2.0"
    assert export["counts"] == {"identified": 12, "without_consent": 0, "released": 11,
                                "suppressed": 1}  # fmt: skip
    assert export["area"] == {"province": "11", "ward": None}
    [record] = {tuple(sorted((k, str(v)) for k, v in r.items())) for r in export["records"]}
    assert dict(record) == {
        "yearOfRegistration": "2026", "prs_Gender": "Feminine", "ageBroad": "18--20",
        "majorityStatus": "Adult", "prs_Citizenship": "VN",
        "vic_TraffickingStatus": "ActualVictimOfTrafficking",
        "vic_TypeOfExploitation": "['ForcedMarriage']", "hte_Type": "Exploitation",
        "hte_Country": "CN", "org_ShippingCountry": "VN", "org_ShippingState": "11",
    }  # fmt: skip
    assert "w-0" not in answer.text  # no case id anywhere


async def test_a_larger_k_may_be_asked_for_and_suppresses_more(stats: FastAPI) -> None:
    answer = await get(stats, bearer("analyst"), period="2026", k="12")
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["released"] == 0
    assert answer.json()["counts"]["suppressed"] == 12


async def test_the_csv_has_the_standards_columns(stats: FastAPI) -> None:
    headers = bearer("analyst") | {"Accept": "text/csv"}
    answer = await get(stats, headers, period="2026-Q1")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 11
    assert rows[0]["vic_TypeOfExploitation"] == "ForcedMarriage"
    assert rows[0]["prs_Gender"] == "Feminine"


@pytest.mark.parametrize("role", ["reporter", "verifier", "integrator", "auditor"])
async def test_only_analysts_may_export(stats: FastAPI, role: str) -> None:
    answer = await get(stats, bearer(role), period="2026")
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"


async def test_an_analyst_may_not_export_another_province(stats: FastAPI) -> None:
    answer = await get(stats, bearer("analyst", "12"), period="2026", province="11")
    assert answer.status_code == 403


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-02-30", "to": "2026-03-31"}, "from"),
        ({"from": "2026-03-01", "to": "2026-01-31"}, "to"),
        ({"from": "2026-03-01"}, "from"),
        ({"period": "2026-Q5"}, "period"),
        ({"period": "2026", "k": "5"}, "k"),
        ({"period": "2026", "province": "1"}, "province"),
    ],
)
async def test_a_bad_request_is_a_problem_naming_the_field(
    stats: FastAPI, params: dict[str, str], field: str
) -> None:
    answer = await get(stats, bearer("analyst"), **params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in {error["field"] for error in answer.json()["errors"]}


async def test_unmappable_codes_are_counted_and_only_those_k_records_carry_named(
    stats: FastAPI,
) -> None:
    """Eleven women with a citizenship outside the catalogues, ten ZZ and one QQ: the route
    answers with the metadata as ``htcds.disclosed`` makes it, naming no code fewer than k
    carry (docs/htcds-export.md)."""
    platform = stats.state.platform
    events = [sent(received(f"z-{n}", nationality="ZZ", purposes=["forced_marriage"]))
              for n in range(10)]  # fmt: skip
    events.append(sent(received("q-0", nationality="QQ", purposes=["forced_marriage"])))
    events += [sent(identified(f"z-{n}", FEB)) for n in range(10)]
    events.append(sent(identified("q-0", FEB)))
    await consume(platform.database, events)
    answer = await get(stats, bearer("analyst", "11"), period="2026")
    assert answer.status_code == 200, answer.text
    assert answer.json()["unmapped"] == {
        "prs_Citizenship": {"records": 11, "codes": [], "records_with_rarer_codes": 11}
    }
    assert "QQ" not in answer.text
    assert "ZZ" not in answer.text
