"""Events intake publishes. Coded facts only: no names, ID numbers, phones or addresses."""

from datetime import date
from typing import Literal

from pydantic import Field

from shared.events.base import EventPayload
from shared.events.registry import EventRegistry
from shared.names import Stream


def register(registry: EventRegistry) -> None:
    for model in (
        CaseReceived,
        ActivityReported,
        SubmissionRejected,
        CaseDuplicateSuspected,
        CaseMerged,
    ):
        registry.register(model)


class Consent(EventPayload):
    services: bool
    information_sharing: bool
    statistics: bool


class CaseReceived(EventPayload):
    """A tip or a person was received; the subject is the case id."""

    event_type = "case.received"
    stream = Stream.CASES

    case_id: str
    received_on: date = Field(description="Business date of reception")
    channel: str
    reception_form: str
    province: str = Field(description="2025 province code")
    ward: str | None = Field(default=None, description="2025 commune code")
    agency: str = Field(description="The reporting agency (an organisation, not a person)")
    sex: str
    age: int | None = Field(default=None, description="Age on the reception date")
    ethnicity: str | None = Field(default=None, description="GSO code; 01 = Kinh")
    nationality: str | None = Field(default=None, description="ISO 3166-1 alpha-2")
    legal_status: Literal["vietnamese", "stateless_resident", "foreign"] | None = Field(
        default=None,
        description="Vietnamese citizen, stateless person residing in Viet Nam, or foreigner "
        "(Law 53/2024 Art. 37); null: nationality not recorded",
    )
    abroad: bool = Field(default=False, description="Still abroad when reported")
    trafficking_scope: str
    destination_country: str | None = None
    purposes: list[str] = Field(default_factory=list)
    consent: Consent
    accompanying_minors: int = 0


class ActivityReported(EventPayload):
    """Outreach, training, directive documents or materials reported outside any case."""

    event_type = "activity.reported"
    stream = Stream.ACTIVITIES

    activity_id: str
    kind: str
    held_on: date
    province: str
    ward: str | None = None
    agency: str
    sessions: int = 0
    participants: int = 0
    panels: int = 0
    posters: int = 0
    leaflets: int = 0


class Reason(EventPayload):
    field: str
    message: str
    code: str


class SubmissionRejected(EventPayload):
    """A submission on the submissions stream was refused; nothing of it was admitted.

    ``sealed_original`` is the submitted data sealed by intake's vault: kept, never in clear.
    """

    event_type = "submission.rejected"
    stream = Stream.SUBMISSIONS_REJECTED

    submission_id: str
    submission_type: str
    submitter: str | None = Field(default=None, description="Client id, if the token was valid")
    reasons: list[Reason]
    sealed_original: str | None = None


class CaseDuplicateSuspected(EventPayload):
    """A new case may be a person already reported; someone must confirm or reject it."""

    event_type = "case.duplicate_suspected"
    stream = Stream.CASES

    case_id: str
    candidate_case_id: str
    score: float = Field(description="Name similarity, 0-100, with birth date and area equal")


class CaseMerged(EventPayload):
    """A case is the same person as another: count and follow ``into`` only."""

    event_type = "case.merged"
    stream = Stream.CASES

    case_id: str
    into: str
    method: str = Field(description="id_number (certain) or review (confirmed by a person)")
    province: str | None = Field(default=None, description="The merged case's 2025 province")
    ward: str | None = Field(default=None, description="The merged case's 2025 commune")
