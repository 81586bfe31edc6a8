"""Events verification publishes. Coded facts only."""

from datetime import date

from pydantic import Field

from shared.events.base import EventPayload
from shared.events.registry import EventRegistry
from shared.names import Stream


def register(registry: EventRegistry) -> None:
    for model in (
        VerificationOpened,
        VerificationReminderDue,
        VerificationOverdue,
        ChildReturnOpened,
        ChildReturnOverdue,
        CaseIdentified,
        CaseNotIdentified,
        CaseIdentificationAmended,
        ProtectionOrdered,
        ProtectionEnded,
    ):
        registry.register(model)


class VerificationOpened(EventPayload):
    """A verification task was opened: the case is now being identified."""

    event_type = "verification.opened"
    stream = Stream.CASES

    case_id: str
    task_id: str
    agencies: list[str] = Field(
        description="The current step's agencies, e.g. district_social_affairs, "
        "provincial_health_department, provincial_police, border_guard"
    )
    level: str = Field(description="commune or province")
    province: str
    ward: str | None = None
    due_on: date = Field(description="The current step's due date")
    legal_basis: str
    limit_known: bool = Field(description="False when the law sets no limit and ours is a setting")
    route: str | None = Field(default=None, description="self_report, rescued or returned")
    step: str | None = Field(default=None, description="The step under way (see the task's steps)")


class VerificationReminderDue(EventPayload):
    """A verification task is due soon."""

    event_type = "verification.reminder_due"
    stream = Stream.CASES

    case_id: str
    task_id: str
    due_on: date
    level: str
    step: str | None = Field(default=None, description="The step due (see the task's steps)")


class VerificationOverdue(EventPayload):
    """A verification task passed its due date and went up a level."""

    event_type = "verification.overdue"
    stream = Stream.CASES

    case_id: str
    task_id: str
    due_on: date
    escalated_to: str
    province: str
    step: str | None = Field(default=None, description="The step overdue (see the task's steps)")


class ChildReturnOpened(EventPayload):
    """A child victim must go back to relatives (notified to collect, or escorted), else to a
    facility (Law 53/2024 Art. 30): a task for child protection."""

    event_type = "verification.child_return_opened"
    stream = Stream.CASES

    case_id: str
    task_id: str
    agencies: list[str]
    province: str
    ward: str | None = None
    due_on: date
    legal_basis: str
    limit_known: bool = Field(description="False when the law sets no limit and ours is a setting")


class ChildReturnOverdue(EventPayload):
    """A child victim's return task passed its due date and went up a level."""

    event_type = "verification.child_return_overdue"
    stream = Stream.CASES

    case_id: str
    task_id: str
    due_on: date
    escalated_to: str
    province: str


class Trafficking(EventPayload):
    scope: str | None = None
    destination_country: str | None = None
    purposes: list[str] | None = None


class CaseIdentified(EventPayload):
    """The police or border guard identified the person as a victim of trafficking."""

    event_type = "case.identified"
    stream = Stream.CASES

    case_id: str
    decided_on: date
    evidence: str
    corrections: Trafficking = Field(default_factory=Trafficking)
    revision: int | None = Field(
        default=None,
        description="The case's decision number: 1 for the first, +1 per amendment. The latest "
        "decision is the highest revision (then the latest time), whatever the arrival order",
    )


class CaseNotIdentified(EventPayload):
    """The police or border guard concluded the person is not a victim of trafficking."""

    event_type = "case.not_identified"
    stream = Stream.CASES

    case_id: str
    decided_on: date
    evidence: str | None = None
    revision: int | None = Field(
        default=None,
        description="The case's decision number: 1 for the first, +1 per amendment. The latest "
        "decision is the highest revision (then the latest time), whatever the arrival order",
    )


class CaseIdentificationAmended(EventPayload):
    """An identification decision was amended: follow this one, not the earlier."""

    event_type = "case.identification_amended"
    stream = Stream.CASES

    case_id: str
    outcome: str = Field(description="victim or not_victim")
    previous_outcome: str
    decided_on: date
    evidence: str | None = None
    corrections: Trafficking = Field(default_factory=Trafficking)
    revision: int | None = Field(
        default=None,
        description="The case's decision number: 1 for the first, +1 per amendment. The latest "
        "decision is the highest revision (then the latest time), whatever the arrival order",
    )


class Protected(EventPayload):
    relation: str = Field(description="victim, accompanying_minor or close_relative")
    count: int


class ProtectionOrdered(EventPayload):
    """Protection measures were ordered for the victim and those close to them."""

    event_type = "protection.ordered"
    stream = Stream.CASES

    case_id: str
    order_id: str
    measures: list[str]
    protected: list[Protected]
    starts_on: date
    ends_on: date | None = None


class ProtectionEnded(EventPayload):
    """A protection order ended."""

    event_type = "protection.ended"
    stream = Stream.CASES

    case_id: str
    order_id: str
    ended_on: date
