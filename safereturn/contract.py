"""The platform's AsyncAPI contract, whole: every event with the code lists its fields take
(as enums, from the services' own code lists, so they cannot drift), the submissions agency
systems send (intake's part), and the integrators' streams (notify's part). It is assembled
here, beside the services, since services never import each other: each serves at
``/asyncapi.json`` the platform's events and its own part. ``docs/asyncapi.json`` is the
whole, committed (``make test`` checks that it is current and that the official AsyncAPI
parser accepts it)."""

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from services.intake.reports import catalogues as intake
from services.intake.reports.contract import with_submissions
from services.notify.catalogue import with_integrator_streams
from services.support import policies
from services.support.api.ledger import Method
from services.support.domain import ClosureReason, ReferralService
from services.verification.api import Measure
from services.verification.domain import Evidence, Level, Outcome
from services.verification.procedures import Route
from shared.events import REGISTRY, EventPayload
from shared.events.catalogue import asyncapi

Codes = Iterable[str] | type[StrEnum]

COUNTRIES = sorted(intake.countries())
ETHNICITIES = [f"{n:02d}" for n in range(1, len(intake.ETHNIC_GROUPS) + 1)]  # GSO codes
TRAFFICKING: dict[str, Codes] = {"scope": intake.Scope, "destination_country": COUNTRIES,
               "purposes[]": intake.Purpose}  # fmt: skip
CORRECTIONS = {f"corrections.{name}": codes for name, codes in TRAFFICKING.items()}
EVERY_EVENT: Mapping[str, Codes] = {"province": sorted(intake.provinces())}
"""Fields that take the same code list in every event that has them."""
CODES: Mapping[str, Mapping[str, Codes]] = {
    "case.received": {
        "channel": intake.Channel, "reception_form": intake.ReceptionForm, "sex": intake.Sex,
        "trafficking_scope": intake.Scope, "purposes[]": intake.Purpose,
        "nationality": COUNTRIES, "destination_country": COUNTRIES,
        "ethnicity": ETHNICITIES,
    },
    "activity.reported": {"kind": intake.ActivityKind},
    "verification.opened": {"level": Level, "route": Route},
    "verification.reminder_due": {"level": Level},
    "case.identified": {"evidence": Evidence} | CORRECTIONS,
    "case.not_identified": {"evidence": Evidence},
    "case.identification_amended": {"outcome": Outcome, "previous_outcome": Outcome,
                                    "evidence": Evidence}
    | CORRECTIONS,
    "protection.ordered": {"measures[]": Measure},
    "support.granted": {"kind": policies.Kind, "group": policies.Group, "unit": policies.Unit,
                        "regime": policies.Regime},
    "support.approved": {"kind": policies.Kind},
    "support.rejected": {"kind": policies.Kind},
    "support.disbursed": {"kind": policies.Kind, "method": Method},
    "support.referred": {"service": ReferralService},
    "referral.accepted": {"service": ReferralService},
    "referral.rejected": {"service": ReferralService},
    "referral.completed": {"service": ReferralService},
    "case.closed": {"reason": ClosureReason},
    "application.overdue": {"regime": policies.Regime},
}  # fmt: skip
"""Per event type, each coded field (``a.b`` inside an object, ``a[]`` an array's items)
and the code list it takes."""


def coded(model: type[EventPayload]) -> dict[str, Any]:
    """The event's JSON Schema with each coded field's code list as an ``enum``."""
    schema = model.model_json_schema()
    codes = dict(CODES.get(model.event_type, {}))
    codes |= {name: values for name, values in EVERY_EVENT.items()
              if name in schema.get("properties", {})}  # fmt: skip
    for path, values in codes.items():
        _constrain(schema, schema, path.split("."), sorted(str(v) for v in values))
    return schema


def _constrain(
    root: dict[str, Any], node: dict[str, Any], path: list[str], enum: list[str]
) -> None:
    name, *rest = path
    field = node["properties"][name.removesuffix("[]")]  # KeyError: CODES names no such field
    for found in _resolved(root, field):
        target = found["items"] if name.endswith("[]") else found
        if rest:
            for inner in _resolved(root, target):
                _constrain(root, inner, rest, enum)
        else:
            target["enum"] = enum


def _resolved(root: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    """The schemas ``node`` stands for: itself, its reference, or its non-null alternatives."""
    if "$ref" in node:
        return [root["$defs"][node["$ref"].rsplit("/", 1)[1]]]
    if "anyOf" in node:
        alternatives = [a for a in node["anyOf"] if a.get("type") != "null"]
        return [found for a in alternatives for found in _resolved(root, a)]
    return [node]


def document(version: str) -> dict[str, Any]:
    """The AsyncAPI document of the platform, as served and committed."""
    platform = asyncapi(REGISTRY, version, payload=coded)
    return with_integrator_streams(with_submissions(platform), payload=coded)
