"""The public dashboard on a running stats service (real Redis, real database, in this process):
its quarters cannot be differenced against its year, its open and overdue verifications are
suppressed like every other count of persons, it is computed once per cache period for everyone,
and it is rate limited per address with an RFC 9457 problem."""

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date

import httpx
import pytest
from fastapi import FastAPI

from services.stats.app import create_app
from services.stats.settings import StatsSettings
from shared.db import Database
from tests.services.stats.deliveries import consume, identified, overdue, received, sent

Client = Callable[..., Awaitable[httpx.Response]]
QUARTER_DAYS = (date(2026, 2, 1), date(2026, 5, 1), date(2026, 8, 1), date(2026, 11, 1))


@pytest.fixture
async def stats(
    redis_url: str, new_database_url: Callable[[], Awaitable[str]]
) -> AsyncIterator[tuple[FastAPI, Database]]:
    """The stats service's app, started (migrations, consumers) on its own empty database."""
    url = await new_database_url()
    settings = StatsSettings(redis_url=redis_url, database_url=url, dashboard_per_minute=4,
                             jwks_url="http://127.0.0.1:9/.well-known/jwks.json")  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app, app.state.platform.database


def somewhere() -> str:
    """A fresh client address: Redis, and so the rate limit's counts, outlive one test."""
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


async def page(app: FastAPI, address: str | None = None, **params: str) -> httpx.Response:
    address = address or somewhere()
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://stats") as client:
        return await client.get("/dashboard", params=params)


def chart(html: str, title: str) -> dict[str, str]:
    """The labels and values of one bar chart, as drawn."""
    section = html[html.index(title) :].split("</section>", 1)[0]
    texts = re.findall(r"<text [^>]*>([^<]*)</text>", section)
    return dict(zip(texts[0::2], texts[1::2], strict=True))


async def test_no_quarter_is_worked_out_from_the_year_and_the_other_quarters(
    stats: tuple[FastAPI, Database],
) -> None:
    """Twenty persons received in the first quarter and one in the third: the third quarter is
    hidden, and so is what would give it away (another quarter, or the year)."""
    app, database = stats
    events = [sent(received(f"q1-{n}", received_on=QUARTER_DAYS[0])) for n in range(20)]
    events.append(sent(received("q3-0", received_on=QUARTER_DAYS[2])))
    await consume(database, events)
    html = (await page(app, year="2026", province="11")).text
    quarters = chart(html, "Số người được tiếp nhận theo quý")
    assert quarters["Quý 3"] == "ẩn (số nhỏ)"
    year = re.search(r"Tổng số người được tiếp nhận: <strong>([^<]*)</strong>", html)
    assert year is not None
    shown = {q: int(v.replace(".", "")) for q, v in quarters.items() if v != "ẩn (số nhỏ)"}
    hidden = set(quarters) - set(shown)
    assert year[1] == "ẩn" or len(hidden) >= 2, (year[1], quarters)


async def test_open_and_overdue_verifications_are_suppressed(
    stats: tuple[FastAPI, Database],
) -> None:
    """Three verifications open in the province, one of them overdue: both hidden."""
    app, database = stats
    events = [sent(received(f"open-{n}")) for n in range(3)]
    events += [sent(received(f"done-{n}")) for n in range(7)]
    events += [sent(identified(f"done-{n}", date(2026, 1, 20))) for n in range(7)]
    events.append(sent(overdue("open-0")))
    await consume(database, events)
    html = (await page(app, year="2026", province="11")).text
    verifications = chart(html, "Xác minh đang mở")
    assert verifications == {"Đang xác minh": "ẩn (số nhỏ)", "Quá hạn": "ẩn (số nhỏ)"}


async def test_the_dashboard_is_the_same_for_everyone_within_the_cache_period(
    stats: tuple[FastAPI, Database],
) -> None:
    app, database = stats
    await consume(database, [sent(received(f"c-{n}")) for n in range(6)])
    first = await page(app, year="2026", province="11")
    await consume(database, [sent(received("late"))])  # a seventh person arrives meanwhile
    again = await page(app, year="2026", province="11")
    assert (first.status_code, again.text) == (200, first.text)


async def test_too_many_dashboard_requests_from_one_address_are_refused_with_a_problem(
    stats: tuple[FastAPI, Database],
) -> None:
    app, _ = stats
    address = somewhere()
    answers = [await page(app, address, year="2026") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert (await page(app, year="2026")).status_code == 200  # other addresses are still served
