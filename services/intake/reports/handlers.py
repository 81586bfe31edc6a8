"""The submissions stream: agency systems publish the same payloads as the HTTP API, as
CloudEvents carrying their bearer token in the ``authorization`` attribute and the payload
encrypted to intake (``encrypted``): only intake can read the personal data in them.

Valid submissions take the HTTP path's rules and idempotency. Invalid ones are refused onto
the rejected stream with machine-readable reasons and their data sealed: never dropped.
Either way the submission is audited, and its entry (personal data in clear) is deleted.

Each entry is settled once (its outcome is committed with its effect), so a redelivery has no
second effect. An admitted submission id (``source`` and ``id``) is spent for its agency: sent
again with the same content it is a repeat, with other content it is refused (``id_reused``).
The token is judged as when the entry was added (its stream id's milliseconds), revocation as
of now; an entry older than the maximum age is refused (``too_old``).
"""

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.intake.reports import store
from services.intake.reports.admission import Rejected, admit_in, record_activity
from services.intake.reports.domain import Problem, activity_problems, problems
from services.intake.reports.encrypted import Opener, Unopened
from services.intake.reports.entries import added_at, fingerprint, submission_key
from services.intake.reports.schemas import ActivityIn, ReportIn
from services.intake.reports.vault import Vault
from shared import cases
from shared.access import Principal
from shared.audit import AuditRecord
from shared.consumer import Subscription
from shared.events.intake import Reason, SubmissionRejected
from shared.events.registry import Event
from shared.names import Service, Stream
from shared.outbox import UnitOfWork
from shared.runtime import Platform
from shared.tokens import TokenError

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger(__name__)

REPORT_SUBMITTED = "report.submitted"
ACTIVITY_SUBMITTED = "activity.submitted"
ENDPOINTS = {REPORT_SUBMITTED: "/v1/reports", ACTIVITY_SUBMITTED: "/v1/activities"}


class Refusal(Exception):
    def __init__(self, found: list[Problem]) -> None:
        super().__init__("; ".join(p.field for p in found))
        self.problems = found


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


Judge = Callable[[UnitOfWork, Event[Any]], Awaitable[tuple[str, str | None]]]


def settled_once(judge: Judge) -> Callable[..., Awaitable[None]]:
    """Each stream entry is settled once: its outcome is recorded with its effect, so an entry
    delivered again (a crash before XACK, a reclaim by another replica) has no second one."""

    async def settle(uow: UnitOfWork, event: Event[Any]) -> None:
        entry_id = event.entry_id
        assert entry_id is not None  # the consumer says which entry it read
        if await store.entry_outcome(uow.session, entry_id) is not None:
            log.info("entry %s on %s was settled already", entry_id, Stream.SUBMISSIONS)
            return
        outcome, _ = await judge(uow, event)
        await store.settle_entry(uow.session, entry_id, outcome, datetime.now(UTC))

    return settle


def submission_handler(
    platform: Platform, vault: Vault, max_age: timedelta, opener: Opener
) -> Callable[..., Awaitable[None]]:
    async def judge(uow: UnitOfWork, event: Event[Any]) -> tuple[str, str | None]:
        assert event.entry_id is not None
        added = added_at(event.entry_id)
        principal, body = None, None
        try:
            if datetime.now(UTC) - added > max_age:
                raise Refusal([too_old(max_age)])
            body = await _opened(opener, event)
            principal = await _submitter(platform, event, added)
            outcome, subject = await _admit(uow, vault, event, body, principal)
        except Refusal as refusal:
            await _reject(uow, vault, event, refusal, principal, body=body)
            return "rejected", None
        await _audit(uow, event, principal, "success" if outcome == "admitted" else outcome,
                     subject)  # fmt: skip
        return outcome, subject

    return settled_once(judge)


def too_old(max_age: timedelta) -> Problem:
    hours = max_age.total_seconds() / 3600
    return Problem("time", f"was added more than {hours:g} h before intake read it; send it "
                   "again with a new token", "too_old")  # fmt: skip


async def _opened(opener: Opener, event: Event[Any]) -> str:
    try:
        return await opener.open(event.envelope.get_data())
    except Unopened as unopened:
        raise Refusal([unopened.problem]) from None


async def _submitter(platform: Platform, event: Event[Any], added: datetime) -> Principal:
    """The submitter, its token judged as when the entry was added (revocation as of now)."""
    scheme, _, token = str(event.envelope.get_extension("authorization") or "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not token:
            raise TokenError("missing")
        principal = await platform.verifier.verify(token, at=added.timestamp())
    except TokenError:
        problem = Problem("authorization", "the token is missing, expired, revoked or invalid",
                          "unauthenticated")  # fmt: skip
        raise Refusal([problem]) from None
    rule = platform.matrix.rule(Service.INTAKE, "POST", ENDPOINTS[event.type])
    if rule is None or not rule.allows(principal.role):
        raise Refusal([Problem("authorization", "the client may not submit this", "forbidden")])
    return principal


async def _admit(
    uow: UnitOfWork, vault: Vault, event: Event[Any], raw: str, principal: Principal
) -> tuple[str, str]:
    """``admitted`` or ``repeat``, and the case or activity. A submission id once admitted
    is spent: sent again with the same content it is a repeat, with other content refused."""
    content: ReportIn | ActivityIn
    if event.type == REPORT_SUBMITTED:
        content = _validated(ReportIn, raw)
        found = problems(content)
    else:
        content = _validated(ActivityIn, raw)
        found = activity_problems(content)
    if found:
        raise Refusal(found)
    key, content_print = submission_key(event.source, event.id), fingerprint(event.type, content)
    first = await store.admitted_submission(uow.session, principal.agency, key)
    if first is not None:
        if first.fingerprint != content_print:
            raise Refusal([Problem("id", "was already admitted with other content; send this "
                                   "under a new id", "id_reused")])  # fmt: skip
        return "repeat", str(first.subject)
    try:  # both refuse (out_of_area) before writing anything
        if isinstance(content, ReportIn):
            admission = await admit_in(uow, vault, content, principal)
            outcome, subject = ("admitted" if admission.created else "repeat"), admission.case_id
        else:
            outcome, subject = "admitted", await record_activity(uow, vault, content, principal)
    except Rejected as error:
        raise Refusal(error.problems) from None
    await store.add_admitted_submission(
        uow.session,
        {"agency": principal.agency, "submission_key": key, "fingerprint": content_print,
         "subject": subject, "entry_id": event.entry_id, "admitted_at": datetime.now(UTC)},
    )  # fmt: skip
    return outcome, subject


async def _reject(
    uow: UnitOfWork,
    vault: Vault,
    event: Event[Any],
    refusal: Refusal,
    principal: Principal | None = None,
    *,
    body: str | None = None,
) -> None:
    # What was sent, decrypted if it could be (sealed, so it can be corrected and sent again).
    raw = body if body is not None else event.envelope.get_data()
    original = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or "")
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
    uow.audit(
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
    async def refuse(uow: UnitOfWork, event: Event[Any]) -> tuple[str, str | None]:
        known = ", ".join(ENDPOINTS)
        problem = Problem("type", f"must be one of {known}", "unknown_type")
        await _reject(uow, vault, event, Refusal([problem]))
        return "rejected", None

    return settled_once(refuse)


def subscriptions(
    vault: Vault, opener: Callable[[Platform], Opener], max_age: timedelta = timedelta(days=1)
) -> Callable[[Platform], list[Subscription]]:
    def subscribe(platform: Platform) -> list[Subscription]:
        handler = submission_handler(platform, vault, max_age, opener(platform))
        handlers = {REPORT_SUBMITTED: handler, ACTIVITY_SUBMITTED: handler}
        return [
            Subscription(
                Stream.SUBMISSIONS,
                handlers,
                decode=False,
                transient=True,
                # Settled once per entry (settled_once) and per admitted id; no inbox, since
                # a refused submission may be sent again, corrected, under the same id.
                inbox=False,
                fallback=refuse_unknown_type(vault),
            )
        ]

    return subscribe


FOLLOWED = ("verification.opened", "case.identified", "case.not_identified",
            "case.identification_amended", "case.merged")  # fmt: skip


async def follow_verification(uow: UnitOfWork, event: Event[Any]) -> None:
    """Intake's view of a case follows verification: being identified, then the latest
    decision, as intake's case register ranks them whatever their arrival order."""
    case = await cases.registered(uow.session, event.payload.case_id)
    if case is not None:
        await store.follow_status(uow.session, case.case_id, case.status)


def case_subscription() -> Subscription:
    return cases.subscription(dict.fromkeys(FOLLOWED, follow_verification))
