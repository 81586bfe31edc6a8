"""How each event changes the projections. The same code serves live consumption and a rebuild
from the archive: it takes the event's JSON data, as archived."""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.stats import store

Projector = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]
LOAN = "social_policy_bank_loan"


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


async def received(session: AsyncSession, data: dict[str, Any]) -> None:
    await store.put(session, store.persons, {
        "case_id": data["case_id"], "received_on": _day(data["received_on"]),
        "province": data["province"], "ward": data.get("ward"), "sex": data["sex"],
        "age": data.get("age"), "ethnicity": data.get("ethnicity"),
        "nationality": data.get("nationality"), "scope": data["trafficking_scope"],
        "destination": data.get("destination_country"),
        "reception_form": data["reception_form"],
        "consent_statistics": bool(data["consent"]["statistics"]), "merged": False,
        "identified_on": None, "decided": False, "overdue": False,
    })  # fmt: skip


async def merged(session: AsyncSession, data: dict[str, Any]) -> None:
    await store.change(session, store.persons, {"case_id": data["case_id"]}, merged=True)


async def identified(session: AsyncSession, data: dict[str, Any]) -> None:
    await _decided(session, data, victim=True)


async def amended(session: AsyncSession, data: dict[str, Any]) -> None:
    """The latest decision counts: moved to its date, or out of I.2."""
    await _decided(session, data, victim=data["outcome"] == "victim")


async def _decided(session: AsyncSession, data: dict[str, Any], *, victim: bool) -> None:
    changes: dict[str, Any] = {"identified_on": _day(data["decided_on"]) if victim else None,
                               "decided": True}  # fmt: skip
    corrections = data.get("corrections") or {}
    if corrections.get("scope"):
        changes["scope"] = corrections["scope"]
    if corrections.get("destination_country"):
        changes["destination"] = corrections["destination_country"]
    await store.change(session, store.persons, {"case_id": data["case_id"]}, **changes)


async def not_identified(session: AsyncSession, data: dict[str, Any]) -> None:
    key = {"case_id": data["case_id"]}
    await store.change(session, store.persons, key, identified_on=None, decided=True)


async def overdue(session: AsyncSession, data: dict[str, Any]) -> None:
    await store.change(session, store.persons, {"case_id": data["case_id"]}, overdue=True)


async def protected(session: AsyncSession, data: dict[str, Any]) -> None:
    persons = sum(int(p["count"]) for p in data["protected"])
    await store.put(session, store.protections, {"order_id": data["order_id"],
                    "case_id": data["case_id"], "starts_on": _day(data["starts_on"]),
                    "persons": persons})  # fmt: skip


async def activity(session: AsyncSession, data: dict[str, Any]) -> None:
    await store.put(session, store.activities, {
        "activity_id": data["activity_id"], "kind": data["kind"],
        "held_on": _day(data["held_on"]), "province": data["province"],
        "ward": data.get("ward"),
        **{k: int(data.get(k, 0)) for k in ("sessions", "participants", "panels", "posters",
                                             "leaflets")},
    })  # fmt: skip


async def granted(session: AsyncSession, data: dict[str, Any]) -> None:
    await store.put(session, store.supports, {"support_id": data["grant_id"],
                    "case_id": data["case_id"], "kind": data["kind"],
                    "on": _day(data["granted_on"]),
                    "effective": data["status"] == "approved"})  # fmt: skip


def _decision(effective: bool) -> Projector:
    async def decide(session: AsyncSession, data: dict[str, Any]) -> None:
        key = {"support_id": data["grant_id"]}
        await store.change(session, store.supports, key, effective=effective)

    return decide


async def referred(session: AsyncSession, data: dict[str, Any]) -> None:
    if data["service"] == LOAN:  # a loan is counted as the referral to the bank
        await store.put(session, store.supports, {"support_id": data["referral_id"],
                        "case_id": data["case_id"], "kind": "loan",
                        "on": _day(data["referred_on"]), "effective": True})  # fmt: skip


async def disbursed(session: AsyncSession, data: dict[str, Any]) -> None:
    await store.put(session, store.payments, {
        "disbursement_id": data["disbursement_id"], "case_id": data["case_id"],
        "kind": data["kind"], "paid_on": _day(data["paid_on"]), "amount": int(data["amount"]),
        "funding_source": data["funding_source"], "province": data["province"],
        "ward": data.get("ward"),
    })  # fmt: skip


PROJECTORS: dict[str, Projector] = {
    "case.received": received,
    "case.merged": merged,
    "case.identified": identified,
    "case.not_identified": not_identified,
    "case.identification_amended": amended,
    "verification.overdue": overdue,
    "protection.ordered": protected,
    "activity.reported": activity,
    "support.granted": granted,
    "support.approved": _decision(effective=True),
    "support.rejected": _decision(effective=False),
    "support.referred": referred,
    "support.disbursed": disbursed,
}


async def project(session: AsyncSession, event_type: str, data: dict[str, Any]) -> None:
    projector = PROJECTORS.get(event_type)
    if projector is not None:
        await projector(session, data)
