"""Reports, cases, activities and catalogues over HTTP."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.intake.reports import store
from services.intake.reports.admission import OutOfArea, Rejected, admit_activity, admit_report
from services.intake.reports.catalogues import CATALOGUES, catalogue
from services.intake.reports.schemas import ActivityIn, ReportIn
from services.intake.reports.vault import Vault
from shared.access import Principal
from shared.events.intake import CaseMerged
from shared.guard import PrincipalDep, ensure_area, outside_area
from shared.http import problem
from shared.runtime import Platform
from shared.webapp import PlatformDep

JSON_TYPES = ("application/json", "application/cloudevents+json")


async def json_body(request: Request) -> None:
    """415 unless the body is JSON (its size is limited for every service by the runtime)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise HTTPException(415, "The body must be application/json")


def vault_of(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


VaultDep = Annotated[Vault, Depends(vault_of)]

router = APIRouter(tags=["reports"])


class Accepted(BaseModel):
    case_id: str
    status: Literal["received", "merged"] = Field(
        description="merged: the person was already reported (same ID number)"
    )
    links: dict[str, str]
    event_id: str | None = Field(
        default=None,
        description="The event this report made (case.received, or case.merged): give it as "
        "after_event to read your write in statistics. None on a repeat.",
    )


def rejected(error: Rejected) -> JSONResponse:
    """403 naming the fields outside the caller's area, else 422 naming every offending one."""
    found = error.problems
    errors = [{"field": p.field, "message": p.message, "code": p.code} for p in found]
    if isinstance(error, OutOfArea):
        return outside_area(errors)
    fields = ", ".join(sorted({p.field for p in found}))
    return problem(
        422,
        "The report breaks the rules",
        detail=f"Invalid fields: {fields}",
        kind="invalid-request",
        errors=errors,
    )


@router.post(
    "/v1/reports",
    status_code=202,
    response_model=Accepted,
    dependencies=[Depends(json_body)],
    responses={200: {"model": Accepted, "description": "A repeat: the case already made"},
               413: {}, 415: {}, 422: {}},
)  # fmt: skip
async def submit_report(
    report: ReportIn, platform: PlatformDep, vault: VaultDep, principal: PrincipalDep
) -> Any:
    """Record a report. ``(agency, source_ref)`` makes it idempotent: a repeat returns 200."""
    try:
        admission = await admit_report(platform, vault, report, principal)
    except Rejected as error:
        return rejected(error)
    links = {"self": f"/v1/cases/{admission.case_id}"}
    # A report merges at once only into a case within the caller's area; a repeat of one a
    # reviewer merged since says so, naming the kept case only if the caller may see it.
    merged = admission.merged_into is not None
    if merged and await _within_area(platform, principal, str(admission.merged_into)):
        links["merged_into"] = f"/v1/cases/{admission.merged_into}"
    body = Accepted(
        case_id=admission.case_id,
        status="merged" if merged else "received",
        links=links,
        event_id=admission.event_id,
    )
    return JSONResponse(body.model_dump(), status_code=202 if admission.created else 200)


async def _within_area(platform: Platform, principal: Principal, case_id: str) -> bool:
    async with platform.database.reading() as session:
        case = await store.get_case(session, case_id)
    return case is not None and principal.area.covers(case.province, case.ward)


class ActivityAccepted(BaseModel):
    activity_id: str
    status: Literal["reported"]


@router.post(
    "/v1/activities",
    status_code=202,
    response_model=ActivityAccepted,
    dependencies=[Depends(json_body)],
    responses={413: {}, 415: {}, 422: {}},
)
async def report_activity(
    activity: ActivityIn, platform: PlatformDep, vault: VaultDep, principal: PrincipalDep
) -> Any:
    """Record outreach, training, a directive document or materials handed out."""
    try:
        activity_id = await admit_activity(platform, vault, activity, principal)
    except Rejected as error:
        return rejected(error)
    return ActivityAccepted(activity_id=activity_id, status="reported")


class CaseOut(BaseModel):
    case_id: str
    status: str
    agency: str
    channel: str
    reception_form: str
    received_on: str
    province: str
    ward: str | None
    trafficking_scope: str
    destination_country: str | None
    purposes: list[str]
    consent: dict[str, bool]
    persons: list[dict[str, Any]]
    merged_into: str | None
    duplicates: list[dict[str, Any]]
    timeline: list[dict[str, Any]]


@router.get("/v1/cases/{case_id}", response_model=CaseOut, responses={403: {}, 404: {}})
async def get_case(case_id: str, platform: PlatformDep, principal: PrincipalDep) -> Any:
    """The case as intake knows it: status and timeline, coded facts only."""
    async with platform.database.reading() as session:
        case = await store.get_case(session, case_id)
        persons = await store.case_persons(session, case_id) if case else []
        links = await store.case_duplicates(session, case_id) if case else []
        others = {_other(link, case_id) for link in links}
        if case is not None and case.merged_into:
            others.add(case.merged_into)
        areas = await store.case_areas(session, others)
    if case is None:
        return problem(404, "No such case", kind="not-found")
    ensure_area(principal, case.province, case.ward, case_id)
    # Nothing about a case outside the caller's area: not its id, not that there is one.
    visible = {c for c, (province, ward) in areas.items() if principal.area.covers(province, ward)}
    links = [link for link in links if _other(link, case_id) in visible]
    merged_into = case.merged_into if case.merged_into in visible else None
    return CaseOut(
        case_id=case.case_id,
        status=case.status,
        agency=case.agency,
        channel=case.channel,
        reception_form=case.reception_form,
        received_on=case.received_on.isoformat(),
        province=case.province,
        ward=case.ward,
        trafficking_scope=case.trafficking_scope,
        destination_country=case.destination_country,
        purposes=list(case.purposes),
        consent={
            "services": case.consent_services,
            "information_sharing": case.consent_information_sharing,
            "statistics": case.consent_statistics,
        },
        persons=[
            {
                "role": p.role,
                "sex": p.sex,
                "age": p.age,
                "ethnicity": p.ethnicity,
                "nationality": p.nationality,
            }
            for p in persons
        ],
        merged_into=merged_into,
        duplicates=[
            {"case_id": _other(link, case_id), "score": link.score, "status": link.status}
            for link in links
        ],
        timeline=_timeline(case, links, merged_into),
    )


def _other(link: Any, case_id: str) -> str:
    """The other case of a suspected duplicate."""
    return str(link.candidate_case_id if link.case_id == case_id else link.case_id)


def _timeline(case: Any, links: list[Any], merged_into: str | None) -> list[dict[str, Any]]:
    """What happened to the case, as far as the caller may see: links to cases outside its
    area are left out, and a merge into one says only that the case was merged."""
    entries: list[dict[str, Any]] = [
        {"at": case.received_on.isoformat(), "event": "received", "agency": case.agency}
    ]
    for link in links:
        other = _other(link, case.case_id)
        entries.append({"at": link.flagged_at.isoformat(), "event": "duplicate_suspected",
                        "case_id": other})  # fmt: skip
        if link.decided_at is not None:
            entries.append({"at": link.decided_at.isoformat(), "event": f"duplicate_{link.status}",
                            "case_id": other})  # fmt: skip
    if case.merged_into:
        entries.append({"event": "merged"} | ({"into": merged_into} if merged_into else {}))
    return entries


class Contact(BaseModel):
    case_id: str
    full_name: str | None
    phone: str | None
    consent: dict[str, bool] = Field(description="What the person agreed to; obey it")


@router.get("/v1/cases/{case_id}/contact", response_model=Contact, responses={403: {}, 404: {}})
async def get_contact(
    case_id: str, platform: PlatformDep, vault: VaultDep, principal: PrincipalDep
) -> Any:
    """The person's contact details, opened from the vault for this one request."""
    async with platform.database.reading() as session:
        case = await store.get_case(session, case_id)
    if case is None:
        return problem(404, "No such case", kind="not-found")
    ensure_area(principal, case.province, case.ward, case_id)
    sealed = vault.open(case.sealed, f"case:{case_id}")
    return Contact(
        case_id=case_id,
        full_name=sealed.get("full_name"),
        phone=sealed.get("phone"),
        consent={
            "services": case.consent_services,
            "information_sharing": case.consent_information_sharing,
            "statistics": case.consent_statistics,
        },
    )


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["confirm", "reject"]


@router.post(
    "/v1/cases/{case_id}/duplicates/{candidate_case_id}",
    response_model=CaseOut,
    responses={403: {}, 404: {}, 409: {}},
)
async def decide_duplicate(
    case_id: str,
    candidate_case_id: str,
    decision: Decision,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> Any:
    """Confirm (the later case merges into the other) or reject a suspected duplicate."""
    async with platform.database.reading() as session:
        found = [await store.get_case(session, c) for c in (case_id, candidate_case_id)]
    if any(case is None for case in found):
        return problem(404, "No such case", kind="not-found")
    for case in found:
        ensure_area(principal, case.province, case.ward, case.case_id)
    status = "confirmed" if decision.decision == "confirm" else "rejected"
    decided = {"decided_at": datetime.now(UTC), "decided_by": principal.client_id}
    try:
        # Raising inside the unit of work rolls back the decision and its audit record.
        async with platform.unit_of_work() as uow:
            if not await store.decide_duplicate(
                uow.session, case_id, candidate_case_id, status, decided
            ):
                raise Undecidable
            if status == "confirmed":
                if not await store.merge(uow.session, case_id, candidate_case_id):
                    raise Undecidable  # one of the two was merged meanwhile
                await store.close_duplicates(uow.session, case_id, decided)
                merged = CaseMerged(case_id=case_id, into=candidate_case_id, method="review",
                                    province=found[0].province, ward=found[0].ward)  # fmt: skip
                await uow.emit(merged, subject=case_id, time=datetime.now(UTC))
    except Undecidable:
        return problem(409, "No open suspected duplicate to decide", kind="conflict")
    return await get_case(case_id, platform, principal)


class Undecidable(Exception):
    pass


class SuspectedPair(BaseModel):
    case_id: str
    candidate_case_id: str
    score: float = Field(description="100: the same ID number; below: name similarity")
    status: str
    flagged_at: datetime


@router.get("/v1/duplicates", response_model=list[SuspectedPair])
async def list_duplicates(
    platform: PlatformDep,
    principal: PrincipalDep,
    status: Literal["suspected", "confirmed", "rejected", "moot"] = "suspected",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Matches to confirm or reject: only pairs whose two cases both lie within the caller's
    area (a match across areas waits for the common province's or a national verifier)."""
    area = principal.area
    async with platform.database.reading() as session:
        rows = await store.duplicates_within(session, status, area.province, area.ward, limit)
    return [SuspectedPair(case_id=row.case_id, candidate_case_id=row.candidate_case_id,
                          score=row.score, status=row.status, flagged_at=row.flagged_at)
            for row in rows]  # fmt: skip


@router.get("/v1/catalogues")
async def list_catalogues() -> dict[str, list[str]]:
    """The names of the code lists."""
    return {"catalogues": CATALOGUES}


@router.get("/v1/catalogues/{name}", responses={404: {}})
async def get_catalogue(name: str) -> Any:
    """One code list: code → Vietnamese label."""
    entries = catalogue(name)
    if entries is None:
        return problem(404, "No such catalogue", kind="not-found")
    return {"name": name, "entries": [{"code": c, "label": label} for c, label in entries.items()]}
