"""Stats' HTTP API for analysts: the form for any period and area, exact (JSON, CSV, Excel),
and identified cases as k-anonymous HTCDS records (``htcds.py``, ``anonymity.py``).
The open aggregates and the dashboard are in ``public.py``."""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.stats import domain, exports, store, tallies
from services.stats.arrivals import Arrivals
from services.stats.domain import Period
from shared.areas import area_name
from shared.cases import register_api
from shared.diagnostics import receipts
from shared.guard import PrincipalDep, forbidden
from shared.http import problem
from shared.runtime import Platform
from shared.webapp import PlatformDep

router = APIRouter()
router.include_router(receipts)
router.include_router(register_api)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Province = Annotated[str | None, Query(pattern=r"^[0-9]{2}$")]
Ward = Annotated[str | None, Query(pattern=r"^[0-9]{5}$")]


class PlatformAdditions(BaseModel):
    """The rows the official form does not have (it ends at 4.3), and their heading."""

    title: str = domain.ADDITIONS_TITLE
    rows: list[str] = list(domain.ADDITIONS)


class Report(BaseModel):
    period: dict[str, str]
    area: dict[str, str | None]
    rows: dict[str, int | None]
    platform_additions: PlatformAdditions = PlatformAdditions()
    as_of: dict[str, Any]
    generated_at: datetime
    suppressed_below: int | None = None


def period_of(start: date | None, end: date | None, name: str | None) -> Period | Response:
    if name is not None:
        try:
            return domain.named_period(name)
        except ValueError as error:
            return _invalid("period", str(error))
    if start is None or end is None:
        return _invalid("from", "give from and to, or a period such as 2026-Q1")
    if end < start:
        return _invalid("to", "is before from")
    return Period(start, end)


def _invalid(field: str, message: str) -> Response:
    return problem(422, "The request is invalid", detail=f"{field}: {message}",
                   kind="invalid-request",
                   errors=[{"field": field, "message": message, "code": "invalid"}])  # fmt: skip


async def build(
    platform: Platform, period: Period, province: str | None, ward: str | None
) -> dict[str, Any]:
    async with platform.database.reading() as session:
        rows = await tallies.form(session, period, province, ward)
        as_of = await store.as_of(session)
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "area": {"level": "commune" if ward else "province" if province else "national",
                 "province": province, "ward": ward},
        "rows": rows,
        "as_of": as_of,
        "generated_at": datetime.now(UTC),
    }  # fmt: skip


@router.get(
    "/v1/reports/victim-support",
    response_model=Report,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}, 403: {}, 422: {}, 503: {}},
)
async def victim_support(
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,
    *,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    period: Annotated[str | None, Query(description="YYYY, YYYY-H1|H2 or YYYY-Q1…Q4")] = None,
    province: Province = None,
    ward: Ward = None,
    output: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")] = "json",
    after_event: Annotated[
        str | None, Query(max_length=100, description="Wait until this event id is included")
    ] = None,
) -> Any:
    """The official form for a period and area; every row, zeros included."""
    area = principal.area
    if (area.province and province not in (None, area.province)) or (
        area.ward and ward not in (None, area.ward)
    ):
        raise forbidden("The area asked for is outside the client's area")
    chosen = period_of(start, end, period)
    if isinstance(chosen, Response):
        return chosen
    wait = request.app.state.settings.read_your_writes_wait_s
    arrivals: Arrivals = request.app.state.arrivals
    if after_event and not await arrivals.reflected(platform.database, after_event, wait):
        response = problem(503, "The event is not reflected yet", kind="not-yet",
                           detail="try again shortly")  # fmt: skip
        response.headers["Retry-After"] = "1"
        return response
    report = await build(platform, chosen, area.province or province, area.ward or ward)
    return _rendered(report, output)


def _rendered(report: dict[str, Any], output: str) -> Any:
    if output == "csv":
        return Response(
            exports.csv_text(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": "attachment; filename=bieu-so-lieu.csv"},
        )
    if output == "xlsx":
        area = report["area"]
        name = area_name(area["province"], area["ward"], national="Toàn quốc")
        return Response(
            exports.xlsx(report, name),
            media_type=XLSX,
            headers={"Content-Disposition": "attachment; filename=bieu-so-lieu.xlsx"},
        )
    return Report(**report)


class Unmappable(BaseModel):
    """``Unmappable`` values released in one HTCDS field: how many records show one, the raw
    codes at least k of them carry, and how many carry a code fewer than k do (never named)."""

    records: int
    codes: list[str]
    records_with_rarer_codes: int


class HtcdsExport(BaseModel):
    """Identified cases as k-anonymous HTCDS v2 records, and how they were made so."""

    period: dict[str, str]
    area: dict[str, str | None]
    standard: dict[str, str]
    k: int
    quasi_identifiers: list[str]
    withheld: list[str]
    rung: int
    counts: dict[str, int]
    unmapped: dict[str, Unmappable]
    not_in_standard: dict[str, str]
    records: list[dict[str, Any]]
    as_of: dict[str, Any]
    generated_at: datetime


@router.get(
    "/v1/exports/htcds",
    response_model=HtcdsExport,
    responses={200: {"content": {"text/csv": {}}}, 403: {}, 422: {}},
)
async def htcds_export(
    request: Request,
    platform: PlatformDep,
    principal: PrincipalDep,
    *,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    period: Annotated[str | None, Query(description="YYYY, YYYY-H1|H2 or YYYY-Q1…Q4")] = None,
    province: Province = None,
    ward: Ward = None,
    k: Annotated[int | None, Query(description="At least the configured k (11)")] = None,
    output: Annotated[Literal["json", "csv"] | None, Query(alias="format")] = None,
) -> Any:
    """Identified cases of a period and area in the IOM Human Trafficking Case Data Standard
    v2, k-anonymous (docs/htcds-export.md); CSV with ``format=csv`` or ``Accept: text/csv``."""
    area = principal.area
    if (area.province and province not in (None, area.province)) or (
        area.ward and ward not in (None, area.ward)
    ):
        raise forbidden("The area asked for is outside the client's area")
    chosen = period_of(start, end, period)
    if isinstance(chosen, Response):
        return chosen
    least = request.app.state.settings.htcds_k
    if k is not None and k < least:
        return _invalid("k", f"must be at least {least}")
    async with platform.database.reading() as session:
        export = await exports.htcds_export(
            session, chosen, area.province or province, area.ward or ward, k=k or least,
            max_suppressed=request.app.state.settings.htcds_max_suppressed,
        )  # fmt: skip
    if output == "csv" or (output is None and "text/csv" in request.headers.get("accept", "")):
        return Response(
            exports.htcds_csv(export),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": "attachment; filename=htcds.csv"},
        )
    return HtcdsExport(**export)
