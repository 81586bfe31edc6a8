"""A service's HTTP app: ``/health``, ``/ready`` and ``/metrics``, its documents and audit
log behind a token, and how it is served.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared import VERSION, logs, openapi
from shared.audit import query
from shared.events.catalogue import asyncapi
from shared.guard import AuditMiddleware, authorize
from shared.http import BodyLimit, install_problem_handlers, problem
from shared.runtime import Platform, ServiceSpec
from shared.settings import ServiceSettings


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]

operations = APIRouter(tags=["operations"])


@operations.get("/health")
async def health(platform: PlatformDep) -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok", "service": platform.name}


@operations.get("/ready", response_model=None)
async def ready(platform: PlatformDep) -> dict[str, Any] | Response:
    """Readiness: the database and Redis answer, every consumer, task and worker runs, and
    the outbox's entries are durable; a 503 names each failing check."""
    problems = await platform.problems()
    if problems:
        return problem(503, "Not ready", kind="not-ready", checks=problems)
    return {"status": "ready", "service": platform.name, "instance": platform.instance}


documents = APIRouter(tags=["operations"])


@documents.get("/openapi.json")
async def openapi_document(request: Request) -> dict[str, Any]:
    """The service's OpenAPI description."""
    document: dict[str, Any] = request.app.openapi()
    return document


@documents.get("/asyncapi.json")
async def event_catalogue(platform: PlatformDep) -> dict[str, Any]:
    """The AsyncAPI 3 document of the platform's streams and events, and of this service's
    own channels (the whole contract, with code lists: docs/asyncapi.json)."""
    document = asyncapi(platform.spec.registry, VERSION)
    extend = platform.spec.catalogue
    return extend(document) if extend is not None else document


class AuditPage(BaseModel):
    records: list[dict[str, Any]]
    next_after_seq: int | None


class AuditFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str | None = None
    action: str | None = None
    case_id: str | None = None
    outcome: str | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    after_seq: int = Field(default=0, ge=0, le=2**63 - 1)
    limit: int = Field(default=100, ge=1, le=1000)


@documents.get("/v1/audit", response_model=AuditPage)
async def audit_log(platform: PlatformDep, page: Annotated[AuditFilter, Query()]) -> AuditPage:
    """This service's audit records, oldest first; page with ``after_seq``."""
    filters = page.model_dump(exclude={"after_seq", "limit"})
    async with platform.database.reading() as session:
        records = await query(session, filters, after_seq=page.after_seq, limit=page.limit)
    last = records[-1]["seq"] if len(records) == page.limit else None
    return AuditPage(records=records, next_after_seq=last)


@operations.get("/metrics")
async def metrics() -> Response:
    """Prometheus exposition of this process's metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def build_app(spec: ServiceSpec) -> FastAPI:
    """The service's ASGI app; its lifespan starts and stops the plumbing."""
    platform = Platform(spec)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await platform.start()
        try:
            yield
        finally:
            await platform.stop()

    app = FastAPI(
        title=f"SafeReturn {platform.name}",
        version=VERSION,
        lifespan=lifespan,
        openapi_url=None,  # served by `documents`, behind a token like every other endpoint
        docs_url=None,
        redoc_url=None,
    )
    app.state.platform = platform
    openapi.install(app, spec, public=(operations, *spec.public_routers))
    install_problem_handlers(app)
    app.include_router(operations)
    for router in spec.public_routers:
        app.include_router(router)
    for router in (documents, *spec.routers):
        app.include_router(router, dependencies=[Depends(authorize)])
    app.add_middleware(AuditMiddleware, guarded=platform)
    app.add_middleware(BodyLimit, limit=spec.settings.max_body_bytes)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=platform.telemetry.tracer_provider,
        meter_provider=platform.telemetry.meter_provider,
        excluded_urls="health,ready,metrics",
    )
    return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run one service in this process until SIGINT or SIGTERM."""
    logs.configure(settings)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
        log_config=None,  # uvicorn's records go through the service's handler (shared.logs)
    )
    uvicorn.Server(config).run()
