"""Events support publishes. Coded facts and integer VND only: no names, no notes, no receipts."""

from datetime import date

from pydantic import Field

from shared.events.base import EventPayload
from shared.events.registry import EventRegistry
from shared.names import Stream


def register(registry: EventRegistry) -> None:
    for model in (
        SupportGranted,
        SupportApproved,
        SupportRejected,
        SupportDisbursed,
        SupportReferred,
        ReferralAccepted,
        ReferralRejected,
        ReferralCompleted,
        CaseClosed,
        CaseReopened,
        ApplicationOverdue,
    ):
        registry.register(model)


class SupportGranted(EventPayload):
    """Support was granted; above the approval threshold it takes effect once approved."""

    event_type = "support.granted"
    stream = Stream.CASES

    case_id: str
    grant_id: str
    kind: str
    beneficiary: str = Field(description="person, or minor-<n> for an accompanying minor")
    group: str = Field(description="victim, being_identified or accompanying_minor")
    quantity: int
    unit: str
    amount: int = Field(description="Integer VND")
    granted_on: date
    regime: str
    rule: str = Field(description="The policy row applied, or the explicit basis")
    legal_basis: str
    province: str
    ward: str | None = None
    status: str = Field(description="approved, or pending_approval (four eyes)")


class SupportApproved(EventPayload):
    """A second officer approved a grant above the threshold: it now takes effect."""

    event_type = "support.approved"
    stream = Stream.CASES

    case_id: str
    grant_id: str
    kind: str
    amount: int
    approved_on: date


class SupportRejected(EventPayload):
    """A second officer rejected a grant: it never takes effect."""

    event_type = "support.rejected"
    stream = Stream.CASES

    case_id: str
    grant_id: str
    kind: str
    amount: int
    rejected_on: date


class SupportDisbursed(EventPayload):
    """Money was paid against a grant."""

    event_type = "support.disbursed"
    stream = Stream.CASES

    case_id: str
    grant_id: str
    disbursement_id: str
    kind: str
    amount: int = Field(description="Integer VND")
    paid_on: date
    method: str
    funding_source: str = Field(description="state_budget, or donor:<organisation>")
    province: str
    ward: str | None = None


class SupportReferred(EventPayload):
    """The person was referred (chuyển tuyến) to a service provider."""

    event_type = "support.referred"
    stream = Stream.CASES

    case_id: str
    referral_id: str
    service: str
    provider: str = Field(description="The provider agency (an organisation)")
    referred_on: date
    child: bool
    province: str
    ward: str | None = None


class _ReferralStep(EventPayload):
    case_id: str
    referral_id: str
    service: str
    provider: str
    on: date


class ReferralAccepted(_ReferralStep):
    """The provider accepted the referral."""

    event_type = "referral.accepted"
    stream = Stream.CASES


class ReferralRejected(_ReferralStep):
    """The provider turned the referral down."""

    event_type = "referral.rejected"
    stream = Stream.CASES


class ReferralCompleted(_ReferralStep):
    """The provider finished the service."""

    event_type = "referral.completed"
    stream = Stream.CASES


class CaseClosed(EventPayload):
    """Support closed the case (on reintegration, or another coded reason)."""

    event_type = "case.closed"
    stream = Stream.CASES

    case_id: str
    closed_on: date
    reason: str
    retrafficking_risk: bool


class CaseReopened(EventPayload):
    """A closed case was opened again."""

    event_type = "case.reopened"
    stream = Stream.CASES

    case_id: str
    reopened_on: date


class ApplicationOverdue(EventPayload):
    """A stage of a person's application for support passed its legal limit: escalated once to
    the body above the stage's agency."""

    event_type = "application.overdue"
    stream = Stream.CASES

    case_id: str
    application_id: str
    stage: str = Field(
        description="e.g. commune_forwarding, district_appraisal, "
        "district_decision, health_department_decision"
    )
    agency: str = Field(description="The agency the stage waits for (a coded role)")
    level: str = Field(description="commune, district or province")
    due_on: date
    escalated_to: str = Field(description="The body above it, e.g. district_people_committee")
    regime: str
    legal_basis: str
    limit_known: bool = Field(
        description="False when the sources set no limit and ours is a setting"
    )
    province: str
    ward: str | None = None
