"""Admitting a report or an activity: one path for HTTP and for the submissions stream.

Idempotent on (agency, source_ref): a repeat returns the case first made. ``202`` (or a
stream acknowledgement) is only given once the case, its sealed personal data and its
``case.received`` event are committed together.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from services.intake.reports import store
from services.intake.reports.domain import (
    SAME_PERSON_SCORE,
    Place,
    Problem,
    activity_problems,
    age_at,
    legal_status,
    name_similarity,
    outside_area,
    place,
    problems,
    sensitive,
)
from services.intake.reports.schemas import ActivityIn, MinorIn, PersonIn, ReportIn
from services.intake.reports.vault import Vault
from shared.access import Principal
from shared.db import Database
from shared.events.base import business_time
from shared.events.intake import (
    ActivityReported,
    CaseDuplicateSuspected,
    CaseMerged,
    CaseReceived,
    Consent,
)
from shared.outbox import UnitOfWork
from shared.runtime import Platform


class Rejected(ValueError):
    """The submission breaks rules; ``problems`` names every offending field."""

    def __init__(self, found: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in found))
        self.problems = found


SAME_ID_SCORE = 100.0
"""The score of a match on the ID number: the same person, certainly."""


class OutOfArea(Rejected):
    """The submission is about a place outside the submitter's area (403, not 422)."""


def ensure_within(where: Place, submitter: Principal) -> None:
    """Refuse before anything is written: a case, an activity and what follows from them
    (tasks, notifications, statistics) are created only within the submitter's area."""
    refused = outside_area(where, submitter.area)
    if refused is not None:
        raise OutOfArea([refused])


@dataclass(frozen=True, slots=True)
class Admission:
    case_id: str
    created: bool
    status: str = "received"
    merged_into: str | None = None
    event_id: str | None = None  # what the report made: case.received, or case.merged


def _place(report: ReportIn) -> Place:
    resolved, found = place(report.area, "area")
    assert resolved is not None, found  # checked by problems()
    return resolved


async def admit_report(
    platform: Platform, vault: Vault, report: ReportIn, submitter: Principal
) -> Admission:
    found = problems(report)
    if found:
        raise Rejected(found)
    try:
        async with platform.unit_of_work() as uow:
            return await admit_in(uow, vault, report, submitter)
    except IntegrityError:
        # A concurrent repeat committed first: answer with its case.
        async with platform.database.reading() as session:
            existing = await store.case_by_source(session, submitter.agency, report.source_ref)
            if existing is None:
                raise
            return await _repeat(session, existing)


async def _repeat(session: AsyncSession, case_id: str) -> Admission:
    """A repeat of a report: the case it made, as it stands now."""
    case = await store.get_case(session, case_id)
    return Admission(case_id, created=False, status=case.status, merged_into=case.merged_into)


async def admit_in(
    uow: UnitOfWork, vault: Vault, report: ReportIn, submitter: Principal
) -> Admission:
    where = _place(report)
    ensure_within(where, submitter)
    existing = await store.case_by_source(uow.session, submitter.agency, report.source_ref)
    if existing is not None:
        return await _repeat(uow.session, existing)
    case_id = str(uuid7())
    person = report.person
    trafficking = report.trafficking
    await store.add_case(
        uow.session,
        {
            "case_id": case_id,
            "agency": submitter.agency,
            "source_ref": report.source_ref,
            "submitted_by": submitter.client_id,
            "channel": report.channel,
            "reception_form": report.reception_form,
            "received_on": report.received_at,
            "province": where.province,
            "ward": where.ward,
            "trafficking_scope": trafficking.scope,
            "destination_country": trafficking.destination_country,
            "purposes": sorted(trafficking.purposes),
            "left_on": trafficking.left_on,
            "returned_on": trafficking.returned_on,
            "consent_services": report.consent.services,
            "consent_information_sharing": report.consent.information_sharing,
            "consent_statistics": report.consent.statistics,
            "consent_recorded_on": report.consent.recorded_at,
            "status": "received",
            "sealed": vault.seal(sensitive(report), f"case:{case_id}"),
            "created_at": datetime.now(UTC),
        },
    )
    id_index = vault.blind_index(person.id_number) if person.id_number else None
    rows = [_person_row(case_id, "subject", person, report, id_index)]
    rows += [
        _person_row(case_id, "accompanying_minor", minor, report, None)
        for minor in report.accompanying_minors
    ]
    await store.add_persons(uow.session, rows)
    received = business_time(report.received_at)
    elsewhere: list[str] = []
    if id_index is not None:
        await store.lock_person(uow.session, id_index)
        known = await store.cases_with_id_index(uow.session, id_index, case_id)
        # The same ID number is the same person, certainly; but merging into a case outside
        # the submitter's area would tell it that the person is known there. Such a match
        # goes to a reviewer whose area covers both; within the area it merges at once.
        same = next((c.case_id for c in known if submitter.area.covers(c.province, c.ward)),
                    None)  # fmt: skip
        elsewhere = [c.case_id for c in known]
        if same is not None:
            await store.set_status(uow.session, case_id, "merged", same)
            merged = CaseMerged(case_id=case_id, into=same, method="id_number",
                                province=where.province, ward=where.ward)  # fmt: skip
            made = await uow.emit(merged, subject=case_id, time=received)
            return Admission(case_id, created=True, status="merged", merged_into=same,
                             event_id=made.get_id())  # fmt: skip
    event = CaseReceived(
        case_id=case_id,
        received_on=report.received_at,
        channel=report.channel,
        reception_form=report.reception_form,
        province=where.province,
        ward=where.ward,
        agency=submitter.agency,
        sex=person.sex,
        age=age_at(person, report.received_at),
        ethnicity=person.ethnicity,
        nationality=person.nationality,
        legal_status=legal_status(person),
        abroad=person.abroad,
        trafficking_scope=trafficking.scope,
        destination_country=trafficking.destination_country,
        purposes=sorted(trafficking.purposes),
        consent=Consent(
            services=report.consent.services,
            information_sharing=report.consent.information_sharing,
            statistics=report.consent.statistics,
        ),
        accompanying_minors=len(report.accompanying_minors),
    )
    made = await uow.emit(event, subject=case_id, time=received)
    for other in elsewhere:
        await _flag(uow, case_id, other, SAME_ID_SCORE)
    await _flag_look_alikes(uow, vault, report, case_id, flagged=set(elsewhere))
    return Admission(case_id, created=True, event_id=made.get_id())


def _person_row(
    case_id: str,
    role: str,
    person: PersonIn | MinorIn,
    report: ReportIn,
    id_index: str | None,
) -> dict[str, object]:
    """Coded facts only; names, ID numbers and phones are in the case's sealed value."""
    return {
        "person_id": str(uuid7()),
        "case_id": case_id,
        "role": role,
        "sex": person.sex,
        "birth_date": person.birth_date,
        "age": age_at(person, report.received_at),
        "ethnicity": getattr(person, "ethnicity", None),
        "nationality": getattr(person, "nationality", None),
        "id_index": id_index,
        "sealed": None,
    }


async def _flag_look_alikes(
    uow: UnitOfWork, vault: Vault, report: ReportIn, case_id: str, *, flagged: set[str]
) -> None:
    """Same birth date, same province, a similar name: one person, probably — ask a person."""
    person = report.person
    if person.full_name is None or person.birth_date is None:
        return
    province = _place(report).province
    for row in await store.look_alikes(uow.session, case_id, person.birth_date, province):
        if row.case_id in flagged:
            continue  # already flagged for its ID number
        name = vault.open(row.sealed, f"case:{row.case_id}").get("full_name")
        score = name_similarity(person.full_name, name) if name else 0.0
        if score >= SAME_PERSON_SCORE:
            await _flag(uow, case_id, row.case_id, score)


async def _flag(uow: UnitOfWork, case_id: str, candidate: str, score: float) -> None:
    """A suspected duplicate, for a reviewer whose area covers both cases to decide."""
    now = datetime.now(UTC)
    await store.add_duplicate(
        uow.session,
        {"case_id": case_id, "candidate_case_id": candidate, "score": score,
         "status": "suspected", "flagged_at": now},
    )  # fmt: skip
    suspected = CaseDuplicateSuspected(case_id=case_id, candidate_case_id=candidate, score=score)
    await uow.emit(suspected, subject=case_id, time=now)


async def admit_activity(
    platform: Platform, vault: Vault, activity: ActivityIn, submitter: Principal
) -> str:
    found = activity_problems(activity)
    if found:
        raise Rejected(found)
    async with platform.unit_of_work() as uow:
        return await record_activity(uow, vault, activity, submitter)


async def record_activity(
    uow: UnitOfWork, vault: Vault, activity: ActivityIn, submitter: Principal
) -> str:
    resolved, _ = place(activity.area, "area")
    assert resolved is not None
    ensure_within(resolved, submitter)
    activity_id = str(uuid7())
    counts = {name: getattr(activity, name) for name in
              ("sessions", "participants", "panels", "posters", "leaflets")}  # fmt: skip
    note = vault.seal({"note": activity.note}, f"activity:{activity_id}") if activity.note else None
    await store.add_activity(
        uow.session,
        {
            "activity_id": activity_id,
            "agency": submitter.agency,
            "submitted_by": submitter.client_id,
            "kind": activity.kind,
            "held_on": activity.date,
            "province": resolved.province,
            "ward": resolved.ward,
            **counts,
            "sealed": note,
            "created_at": datetime.now(UTC),
        },
    )
    event = ActivityReported(
        activity_id=activity_id,
        kind=activity.kind,
        held_on=activity.date,
        province=resolved.province,
        ward=resolved.ward,
        agency=submitter.agency,
        **counts,
    )
    await uow.emit(event, subject=None, time=business_time(activity.date))
    return activity_id


CONTEXTS = {"cases": "case", "activities": "activity"}


async def reseal_all(database: Database, vault: Vault, batch: int = 200) -> int:
    """Seal every stored value again with the vault's active key; how many were changed."""
    changed = 0
    for table in store.SEALED_TABLES:
        after = ""
        while True:
            async with database.transaction() as session:
                rows = await store.sealed_values(session, table, after, batch)
                for row in rows:
                    context = f"{CONTEXTS[table.name]}:{row.id}"
                    if vault.key_of(row.sealed) != vault.active:
                        opened = vault.open(row.sealed, context)
                        await store.reseal(session, table, row.id, vault.seal(opened, context))
                        changed += 1
            if len(rows) < batch:
                break
            after = rows[-1].id
    return changed
