"""The submissions stream: agency systems publish the same payloads as the HTTP API, as
CloudEvents carrying their bearer token in the ``authorization`` attribute.

Valid submissions take the HTTP path's rules and idempotency. Invalid ones are refused onto
the rejected stream with machine-readable reasons and their data sealed: never dropped.
Either way the submission is audited, and its entry (personal data in clear) is deleted.
"""

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.intake.reports import store
from services.intake.reports.admission import admit_in, record_activity
from services.intake.reports.domain import (
    ActivityIn,
    Problem,
    ReportIn,
    activity_problems,
    problems,
)
from services.intake.reports.vault import Vault
from shared.access import Principal
from shared.audit import AuditRecord, append
from shared.consumer import Subscription
from shared.events.intake import Reason, SubmissionRejected
from shared.events.registry import Event
from shared.names import Service, Stream
from shared.outbox import UnitOfWork
from shared.runtime import Platform
from shared.tokens import TokenError

M = TypeVar("M", bound=BaseModel)

REPORT_SUBMITTED = "report.submitted"
ACTIVITY_SUBMITTED = "activity.submitted"
ENDPOINTS = {REPORT_SUBMITTED: "/v1/reports", ACTIVITY_SUBMITTED: "/v1/activities"}


class Refusal(Exception):
    def __init__(self, found: list[Problem], principal: Principal | None = None) -> None:
        super().__init__("; ".join(p.field for p in found))
        self.problems = found
        self.principal = principal


def _validated(model: type[M], raw: Any) -> M:
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except (ValueError, RecursionError):  # not JSON, or nested beyond reason
        raise Refusal([Problem("data", "is not JSON", "json_invalid")]) from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise Refusal(
            [
                Problem(".".join(str(p) for p in e["loc"]) or "data", e["msg"], e["type"])
                for e in error.errors(include_input=False, include_url=False)
            ]
        ) from None


def submission_handler(platform: Platform, vault: Vault) -> Callable[..., Awaitable[None]]:
    async def on_submission(uow: UnitOfWork, event: Event[Any]) -> None:
        try:
            principal = await _submitter(platform, event)
            try:
                subject = await _admit(uow, vault, event, principal)
            except Refusal as refusal:
                raise Refusal(refusal.problems, principal) from None
        except Refusal as refusal:
            await _reject(uow, vault, event, refusal)
            return
        await _audit(uow, event, principal, "success", subject)

    return on_submission


async def _submitter(platform: Platform, event: Event[Any]) -> Principal:
    scheme, _, token = str(event.envelope.get_extension("authorization") or "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not token:
            raise TokenError("missing")
        principal = await platform.verifier.verify(token)
    except TokenError:
        problem = Problem("authorization", "the token is missing, expired, revoked or invalid",
                          "unauthenticated")  # fmt: skip
        raise Refusal([problem]) from None
    rule = platform.matrix.rule(Service.INTAKE, "POST", ENDPOINTS[event.type])
    if rule is None or not rule.allows(principal.role):
        raise Refusal([Problem("authorization", "the client may not submit this", "forbidden")])
    return principal


async def _admit(uow: UnitOfWork, vault: Vault, event: Event[Any], principal: Principal) -> str:
    raw = event.envelope.get_data()
    if event.type == REPORT_SUBMITTED:
        report = _validated(ReportIn, raw)
        found = problems(report)
        if found:
            raise Refusal(found)
        return (await admit_in(uow, vault, report, principal)).case_id
    activity = _validated(ActivityIn, raw)
    found = activity_problems(activity)
    if found:
        raise Refusal(found)
    return await record_activity(uow, vault, activity, principal)


async def _reject(uow: UnitOfWork, vault: Vault, event: Event[Any], refusal: Refusal) -> None:
    raw = event.envelope.get_data()
    original = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or "")
    principal = refusal.principal
    rejected = SubmissionRejected(
        submission_id=event.id,
        submission_type=event.type,
        submitter=principal.client_id if principal else None,
        reasons=[Reason(field=p.field, message=p.message, code=p.code) for p in refusal.problems],
        sealed_original=vault.seal({"data": original}, f"submission:{event.id}"),
    )
    await uow.emit(rejected, subject=event.id, time=datetime.now(UTC))
    await _audit(uow, event, principal, "rejected", None, reason=refusal.problems[0].code)


async def _audit(
    uow: UnitOfWork,
    event: Event[Any],
    principal: Principal | None,
    outcome: str,
    subject: str | None,
    *,
    reason: str | None = None,
) -> None:
    await append(
        uow.session,
        AuditRecord(
            at=datetime.now(UTC),
            service=Service.INTAKE,
            action=f"stream {event.type}",
            outcome=outcome,
            status=0,
            client_id=principal.client_id if principal else None,
            role=str(principal.role) if principal else None,
            agency=principal.agency if principal else None,
            case_id=subject if event.type == REPORT_SUBMITTED else None,
            reason=reason,
        ),
    )


def refuse_unknown_type(vault: Vault) -> Callable[..., Awaitable[None]]:
    async def refuse(uow: UnitOfWork, event: Event[Any]) -> None:
        known = ", ".join(ENDPOINTS)
        problem = Problem("type", f"must be one of {known}", "unknown_type")
        await _reject(uow, vault, event, Refusal([problem]))

    return refuse


def subscriptions(vault: Vault) -> Callable[[Platform], list[Subscription]]:
    def subscribe(platform: Platform) -> list[Subscription]:
        handler = submission_handler(platform, vault)
        handlers = {REPORT_SUBMITTED: handler, ACTIVITY_SUBMITTED: handler}
        return [
            Subscription(
                Stream.SUBMISSIONS,
                handlers,
                decode=False,
                transient=True,
                inbox=False,  # idempotent on (agency, source_ref); a sender may resend an id
                fallback=refuse_unknown_type(vault),
            )
        ]

    return subscribe


STATUS_OF = {
    "verification.opened": "being_identified",
    "case.identified": "identified",
    "case.not_identified": "not_identified",
}


async def follow_verification(uow: UnitOfWork, event: Event[Any]) -> None:
    """Intake's view of a case follows verification: being identified, then decided."""
    data = json.loads(str(event.envelope.get_data()))
    if event.type == "case.identification_amended":
        status = "identified" if data["outcome"] == "victim" else "not_identified"
    else:
        status = STATUS_OF[event.type]
    await store.follow_status(uow.session, data["case_id"], status)


def case_subscription() -> Subscription:
    types = [*STATUS_OF, "case.identification_amended"]
    return Subscription(Stream.CASES, dict.fromkeys(types, follow_verification), decode=False)
