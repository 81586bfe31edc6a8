"""Stats' open answers: the public aggregates and the dashboard. Only whole periods of a year and
whole areas are served, every one cut from one suppression pattern of the year
(``disclosure.publish``); the year's answers are computed once per cache period and given to
every caller alike, and the dashboard, which needs no token, is rate limited per address."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from vietnam_provinces import Province as Unit
from vietnam_provinces import Ward, WardCode

from services.stats import dashboard, disclosure, domain, store, tallies
from services.stats.api import Province, Report
from shared.guard import too_many
from shared.http import problem
from shared.ratelimit import RateLimiter
from shared.runtime import Platform
from shared.webapp import PlatformDep

router = APIRouter()  # behind a token, like every service route
public = APIRouter()  # no token

PROVINCES = tuple(f"{int(unit.code):02d}" for unit in Unit.iter_all())
WHOLE = "give period=YYYY, YYYY-H1|H2 or YYYY-Q1…Q4 (open aggregates are for whole periods)"
VERIFICATIONS = ("open", "overdue")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A year's open aggregates as computed at one moment, the same for every caller."""

    published: disclosure.Published
    as_of: dict[str, Any]
    generated_at: datetime


class Kept:
    """Answers computed at most once per ``ttl_s`` per key, given alike to every caller."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._kept: dict[object, tuple[float, object]] = {}
        self._locks: dict[object, asyncio.Lock] = {}

    async def get(self, key: object, make: Callable[[], Awaitable[T]]) -> T:
        async with self._locks.setdefault(key, asyncio.Lock()):  # one computation at a time
            kept = self._kept.get(key)
            if kept is not None and time.monotonic() - kept[0] < self.ttl_s:
                return kept[1]  # type: ignore[return-value]
            value = await make()
            self._kept[key] = (time.monotonic(), value)
            return value


def _refused(field: str, message: str) -> Response:
    return problem(400, "The request is invalid", detail=f"{field}: {message}",
                   kind="invalid-request",
                   errors=[{"field": field, "message": message, "code": "invalid"}])  # fmt: skip


def whole_period(request: Request, period: str | None) -> tuple[int, str] | Response:
    """The year and part (Q1…Q4, H1, H2, Y) asked for; dates are refused, whatever they are."""
    for name in ("from", "to"):
        if name in request.query_params:
            return _refused(name, WHOLE)
    found = domain.PERIOD.fullmatch(period or "")
    if found is None or not 2000 <= int(found["year"]) <= 2100:
        return _refused("period", WHOLE)
    return int(found["year"]), found["part"] or "Y"


def whole_area(province: str | None, ward: str | None) -> str | Response:
    """The area's key: national, a province, or a ward, as the 2025 codes define them."""
    if ward is not None:
        try:
            home = f"{int(Ward.from_code(WardCode(int(ward))).province_code):02d}"
        except (ValueError, KeyError):
            return _refused("ward", "no such ward")
        if province not in (None, home):
            return _refused("province", "the ward is in another province")
        return disclosure.area_key(home, ward)
    if province is not None and province not in PROVINCES:
        return _refused("province", "no such province")
    return disclosure.area_key(province, None)


async def snapshot(request: Request, year: int) -> Snapshot:
    platform: Platform = request.app.state.platform
    k = request.app.state.settings.suppression_k

    async def make() -> Snapshot:
        async with platform.database.reading() as session:
            leaves = await tallies.leaf_forms(session, year)
            as_of = await store.as_of(session)
        published = await asyncio.to_thread(disclosure.publish_leaves, year, leaves, k, PROVINCES)
        return Snapshot(published, as_of, datetime.now(UTC))

    kept: Kept = request.app.state.open_answers
    return await kept.get(("year", year), make)


async def verifications(request: Request, area: str) -> tuple[int | None, int | None]:
    platform: Platform = request.app.state.platform
    k = request.app.state.settings.suppression_k

    async def make() -> dict[str, dict[str, int | None]]:
        async with platform.database.reading() as session:
            counts = await store.verifications_by_province(session)
        return disclosure.publish_counts(counts, VERIFICATIONS, k, PROVINCES)

    kept: Kept = request.app.state.open_answers
    shown = (await kept.get("verifications", make)).get(area) or dict.fromkeys(VERIFICATIONS, 0)
    return shown["open"], shown["overdue"]


@router.get("/v1/open/victim-support", response_model=Report, responses={400: {}, 422: {}})
async def open_victim_support(
    request: Request,
    platform: PlatformDep,
    *,
    period: Annotated[str | None, Query(description="YYYY, YYYY-H1|H2 or YYYY-Q1…Q4")] = None,
    province: Province = None,
    ward: Annotated[str | None, Query(pattern=r"^[0-9]{5}$")] = None,
) -> Any:
    """Safe public aggregates for a whole period and a whole area, cut from the year's one
    suppression pattern: no hidden count can be worked out from any set of answers."""
    chosen = whole_period(request, period)
    if isinstance(chosen, Response):
        return chosen
    area = whole_area(province, ward)
    if isinstance(area, Response):
        return area
    year, part = chosen
    kept = await snapshot(request, year)
    bounds = domain.named_period(disclosure.period_name(year, part))
    home = area.partition("/")[0] if area != disclosure.NATIONAL else None
    return Report(
        period={"from": bounds.start.isoformat(), "to": bounds.end.isoformat()},
        area={"level": "commune" if ward else "province" if home else "national",
              "province": home, "ward": ward},
        rows=kept.published.answer(area, part), as_of=kept.as_of,
        generated_at=kept.generated_at, suppressed_below=request.app.state.settings.suppression_k,
    )  # fmt: skip


@public.get("/dashboard", response_class=HTMLResponse, responses={400: {}, 429: {}})
async def show_dashboard(
    request: Request,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    province: Province = None,
) -> Response:
    """The dashboard, in Vietnamese, from the same public aggregates (charts drawn as SVG on
    the server: no script, no CDN, works offline)."""
    limiter: RateLimiter = request.app.state.dashboard_limiter
    verdict = await limiter.hit(request.client.host if request.client else "unknown")
    if not verdict.allowed:
        raise too_many(verdict.retry_after_s)
    area = whole_area(province, None)
    if isinstance(area, Response):
        return area
    year = year or datetime.now(UTC).year
    kept = await snapshot(request, year)
    quarters = [kept.published.answer(area, f"Q{n}") for n in range(1, 5)]
    page = dashboard.page(year, province=province, quarters=quarters,
                          whole=kept.published.answer(area, "Y"), as_of=kept.as_of,
                          verifications=await verifications(request, area))  # fmt: skip
    return HTMLResponse(page)


def install(app: FastAPI, platform: Platform) -> None:
    """The cache of open answers and the dashboard's rate limit, on the app's state."""
    settings = app.state.settings
    app.state.open_answers = Kept(settings.public_cache_s)
    app.state.dashboard_limiter = RateLimiter(
        platform.redis, "stats-dashboard", limit=settings.dashboard_per_minute, window_s=60
    )
