"""What integrators may learn of a case: nothing unless the person consented to information
sharing, and then a coded view with no personal data — the same by webhook and on an
integrator's stream. Pure: event in, view out.

The view keeps what a partner needs to follow a case (its pseudonymous id, area, dates, coded
outcomes, support kinds and amounts) and leaves out what narrows the person down or says more
than the partner needs: the exact age (an age band instead), ethnicity (sensitive personal data
in Vietnamese law), nationality, the reporting agency and channel, accompanying children,
a provider's name (where the person stays), evidence, risk assessments, beneficiaries and the
link to another case (a merge names the case only). An event type not listed here is never
shown to integrators."""

import json
from collections.abc import Mapping
from typing import Any

DATASCHEMA = "urn:safereturn:public:1"
"""Marks the public view (its fields are listed in the AsyncAPI document notify serves)."""

AREA = ("province", "ward")
FIELDS: dict[str, tuple[str, ...]] = {
    "case.received": ("received_on", "reception_form", "trafficking_scope",
                      "destination_country", "purposes", "sex"),
    "case.merged": ("method",),
    "verification.opened": ("level", "due_on"),
    "verification.reminder_due": ("level", "due_on"),
    "verification.overdue": ("due_on", "escalated_to"),
    "case.identified": ("decided_on", "revision", "corrections"),
    "case.not_identified": ("decided_on", "revision"),
    "case.identification_amended": ("outcome", "previous_outcome", "decided_on", "revision",
                                    "corrections"),
    "protection.ordered": ("order_id", "measures", "starts_on", "ends_on"),
    "protection.ended": ("order_id", "ended_on"),
    "support.granted": ("grant_id", "kind", "group", "amount", "granted_on", "status"),
    "support.approved": ("grant_id", "kind", "amount", "approved_on"),
    "support.rejected": ("grant_id", "kind", "amount", "rejected_on"),
    "support.disbursed": ("grant_id", "disbursement_id", "kind", "amount", "paid_on"),
    "support.referred": ("referral_id", "service", "referred_on"),
    "referral.accepted": ("referral_id", "service", "on"),
    "referral.rejected": ("referral_id", "service", "on"),
    "referral.completed": ("referral_id", "service", "on"),
    "case.closed": ("closed_on", "reason"),
    "case.reopened": ("reopened_on",),
}  # fmt: skip
"""Per public event type, the payload fields shown besides ``case_id`` and the case's area."""

AGE_BANDS = ((0, "0-15"), (16, "16-17"), (18, "18-24"), (25, "25-34"), (35, "35+"))


def age_band(age: int | None) -> str:
    """``17`` → ``"16-17"``: children stay apart from adults, no year more exact than a band."""
    if age is None:
        return "unknown"
    return [band for lowest, band in AGE_BANDS if age >= lowest][-1]


def shareable(context: Mapping[str, Any]) -> bool:
    """Only a case whose person consented to information sharing; unknown consent is no."""
    return context.get("consent_information_sharing") is True


def view(message: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any] | None:
    """The CloudEvent as integrators get it, or None if they get nothing of it."""
    wanted = FIELDS.get(message["type"])
    if wanted is None or not shareable(context) or not context.get("province"):
        return None
    data: Mapping[str, Any] = message["data"]
    shown = {"case_id": context["case_id"]} | {k: context.get(k) for k in AREA}
    shown |= {name: data[name] for name in wanted if name in data}
    if message["type"] == "case.received":
        shown["age_band"] = age_band(data.get("age"))
    return {
        "specversion": "1.0", "id": message["id"], "source": message["source"],
        "type": message["type"], "subject": message["subject"], "time": message["time"],
        "datacontenttype": "application/json", "dataschema": DATASCHEMA, "data": shown,
    }  # fmt: skip


def fields(shown: Mapping[str, Any]) -> dict[str, str]:
    """The view as a stream entry: CloudEvents attributes as fields, ``data`` as JSON."""
    entry = {name: str(value) for name, value in shown.items() if name != "data"}
    return entry | {"data": json.dumps(shown["data"], ensure_ascii=False, separators=(",", ":"))}
