"""Support's tables and every query on them; the shared plumbing tables (and the case register)
live in ``shared.db``. Money columns are integer VND; balances move only by conditional updates,
so concurrent payments can never take a grant or a budget past its amount."""

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    extract,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.support import notes
from services.support.domain import Granted
from services.support.policies import Kind
from shared.db import UtcDateTime, case_register, new_metadata, upsert

metadata = new_metadata()

support_cases = Table(
    "support_cases",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("age", Integer, nullable=True),
    Column("accompanying_minors", Integer, nullable=False, default=0),
    Column("legacy_province", String(2), nullable=True),
    Column("identified_on", Date, nullable=True),
    Column("poor_household", Boolean, nullable=True),
    Column("household_evidence", Text, nullable=True),  # sealed (services.support.notes)
    Column("refused_kinds", JSON, nullable=False, default=list),
    Column("closed_on", Date, nullable=True),
    Column("closure_reason", String(30), nullable=True),
    Column("retrafficking_risk", Boolean, nullable=False, default=False),
    Column("legal_status", String(20), nullable=True),  # see services.support.facts
    Column("abroad", Boolean, nullable=False, server_default=false()),
)

grants = Table(
    "grants",
    metadata,
    Column("grant_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("beneficiary", String(20), nullable=False),
    Column("group", String(30), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit", String(20), nullable=False),
    Column("rate", BigInteger, nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("disbursed", BigInteger, nullable=False, default=0),
    Column("granted_on", Date, nullable=False),
    Column("regime", String(20), nullable=False),
    Column("rule", String(80), nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("receipt_ref", String(100), nullable=True),
    Column("status", String(20), nullable=False),
    Column("granted_by", String(40), nullable=False),
    Column("decided_by", String(40), nullable=True),
    Column("decided_on", Date, nullable=True),
    Column("decision_note", Text, nullable=True),
    Column("province", String(2), nullable=False),
    Column("ward", String(5), nullable=True),
    Column("declared", JSON, nullable=True),  # circumstances declared with the grant
    CheckConstraint("disbursed >= 0 AND disbursed <= amount", name="paid"),
)

disbursements = Table(
    "disbursements",
    metadata,
    Column("disbursement_id", String(40), primary_key=True),
    Column("grant_id", String(40), nullable=False, index=True),
    Column("case_id", String(40), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("paid_on", Date, nullable=False, index=True),
    Column("method", String(20), nullable=False),
    Column("funding_source", String(100), nullable=False),
    Column("province", String(2), nullable=False),
    Column("client_id", String(40), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("client_id", "idempotency_key"),
    CheckConstraint("amount > 0", name="positive"),
)

budgets = Table(
    "budgets",
    metadata,
    Column("province", String(2), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("funding_source", String(100), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("spent", BigInteger, nullable=False, default=0),
    CheckConstraint("spent >= 0 AND spent <= amount", name="spent"),
)

referrals = Table(
    "referrals",
    metadata,
    Column("referral_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("service", String(40), nullable=False),
    Column("provider", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("referred_on", Date, nullable=False),
    Column("updated_on", Date, nullable=False),
    Column("reason", Text, nullable=True),
    Column("provider_note", Text, nullable=True),
    Column("referred_by", String(40), nullable=False),
    Column("province", String(2), nullable=False),
    Column("ward", String(5), nullable=True),
)

follow_ups = Table(
    "follow_ups",
    metadata,
    Column("visit_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("visited_on", Date, nullable=False),
    Column("situation", String(30), nullable=False),
    Column("retrafficking_risk", Boolean, nullable=False),
    Column("note", Text, nullable=True),
    Column("recorded_by", String(40), nullable=False),
)

OPEN_GRANT = ("pending_approval", "approved")


def _changed(result: Any) -> bool:
    return bool(result.rowcount)


async def case_facts(session: AsyncSession, case_id: str) -> Any:
    """The register's row joined with support's own facts of the case."""
    statement = (
        select(case_register, *[c for c in support_cases.c if c.name != "case_id"])
        .select_from(
            case_register.outerjoin(
                support_cases, support_cases.c.case_id == case_register.c.case_id
            )
        )
        .where(case_register.c.case_id == case_id)
    )
    return notes.opened(session, "support_cases", (await session.execute(statement)).first())


async def remember_case(session: AsyncSession, values: Mapping[str, Any]) -> None:
    """Add or refresh the case's facts from its events, keeping what officers recorded."""
    statement = upsert(session, support_cases).values(refused_kinds=[], **values)
    facts = {k: v for k, v in values.items() if k != "case_id"}
    await session.execute(
        statement.on_conflict_do_update(index_elements=["case_id"], set_=facts)
        if facts
        else statement.on_conflict_do_nothing()
    )


async def lock_case(session: AsyncSession, case_id: str) -> None:
    await remember_case(session, {"case_id": case_id})
    lock = select(support_cases.c.case_id).where(support_cases.c.case_id == case_id)
    await session.execute(lock.with_for_update())


async def update_case(session: AsyncSession, case_id: str, **values: Any) -> None:
    await remember_case(session, {"case_id": case_id})
    await session.execute(
        update(support_cases)
        .where(support_cases.c.case_id == case_id)
        .values(**notes.sealed(session, "support_cases", case_id, values))
    )


async def granted_so_far(session: AsyncSession, case_id: str) -> dict[tuple[str, Kind], Granted]:
    rows = await session.execute(
        select(grants.c.beneficiary, grants.c.kind, func.sum(grants.c.quantity),
               func.min(grants.c.granted_on))
        .where(grants.c.case_id == case_id, grants.c.status.in_(OPEN_GRANT))
        .group_by(grants.c.beneficiary, grants.c.kind)
    )  # fmt: skip
    return {(who, Kind(kind)): Granted(int(quantity), first) for who, kind, quantity, first in rows}


async def grants_by(session: AsyncSession, case_id: str, kind: str, granted_by: str) -> list[Any]:
    """What one officer granted for one case and kind (id, amount, status), for four eyes."""
    rows = await session.execute(
        select(grants.c.grant_id, grants.c.amount, grants.c.status).where(
            grants.c.case_id == case_id, grants.c.kind == kind, grants.c.granted_by == granted_by
        )
    )
    return list(rows)


async def add_grant(session: AsyncSession, values: Mapping[str, Any]) -> None:
    sealed = notes.sealed(session, "grants", values["grant_id"], values)
    await session.execute(insert(grants).values(disbursed=0, **sealed))


async def grant(session: AsyncSession, grant_id: str) -> Any:
    row = (await session.execute(select(grants).where(grants.c.grant_id == grant_id))).first()
    return notes.opened(session, "grants", row)


async def grants_of(session: AsyncSession, case_id: str) -> list[Any]:
    rows = await session.execute(
        select(grants).where(grants.c.case_id == case_id).order_by(grants.c.grant_id)
    )
    return [notes.opened(session, "grants", row) for row in rows]


async def decide_grant(session: AsyncSession, grant_id: str, values: Mapping[str, Any]) -> bool:
    """Approve or reject a pending grant; False if someone decided it first."""
    result = await session.execute(
        update(grants)
        .where(grants.c.grant_id == grant_id, grants.c.status == "pending_approval")
        .values(**notes.sealed(session, "grants", grant_id, values))
    )
    return _changed(result)


async def disbursement_by_key(session: AsyncSession, client_id: str, key: str) -> Any:
    rows = await session.execute(
        select(disbursements).where(
            disbursements.c.client_id == client_id, disbursements.c.idempotency_key == key
        )
    )
    return rows.first()


async def add_disbursement(session: AsyncSession, values: Mapping[str, Any]) -> None:
    await session.execute(insert(disbursements).values(**values))


async def pay_from_grant(session: AsyncSession, grant_id: str, amount: int) -> bool:
    result = await session.execute(
        update(grants)
        .where(grants.c.grant_id == grant_id, grants.c.status == "approved",
               grants.c.disbursed + amount <= grants.c.amount)
        .values(disbursed=grants.c.disbursed + amount)
    )  # fmt: skip
    return _changed(result)


async def spend_budget(
    session: AsyncSession, province: str, year: int, source: str, amount: int
) -> bool:
    result = await session.execute(
        update(budgets)
        .where(budgets.c.province == province, budgets.c.year == year,
               budgets.c.funding_source == source, budgets.c.spent + amount <= budgets.c.amount)
        .values(spent=budgets.c.spent + amount)
    )  # fmt: skip
    return _changed(result)


async def budget(session: AsyncSession, province: str, year: int, source: str) -> Any:
    rows = await session.execute(
        select(budgets).where(budgets.c.province == province, budgets.c.year == year,
                              budgets.c.funding_source == source)
    )  # fmt: skip
    return rows.first()


async def set_budget(
    session: AsyncSession, province: str, year: int, source: str, amount: int
) -> bool:
    """Set a budget's amount; False if that is less than already spent from it."""
    if await budget(session, province, year, source) is None:
        await session.execute(
            insert(budgets).values(
                province=province, year=year, funding_source=source, amount=amount, spent=0
            )
        )
        return True
    result = await session.execute(
        update(budgets)
        .where(budgets.c.province == province, budgets.c.year == year,
               budgets.c.funding_source == source, budgets.c.spent <= amount)
        .values(amount=amount)
    )  # fmt: skip
    return _changed(result)


async def list_budgets(session: AsyncSession, province: str | None, year: int | None) -> list[Any]:
    statement = select(budgets)
    if province:
        statement = statement.where(budgets.c.province == province)
    if year:
        statement = statement.where(budgets.c.year == year)
    rows = await session.execute(statement.order_by(budgets.c.province, budgets.c.year,
                                                    budgets.c.funding_source))  # fmt: skip
    return list(rows)


async def ledger(
    session: AsyncSession, start: date, end: date, province: str | None, ward: str | None
) -> list[Any]:
    """Disbursed totals by kind, funding source and month, between two payment dates."""
    month = extract("month", disbursements.c.paid_on)
    year = extract("year", disbursements.c.paid_on)
    statement = (
        select(disbursements.c.kind, disbursements.c.funding_source, year.label("year"),
               month.label("month"), func.sum(disbursements.c.amount).label("amount"),
               func.count().label("count"))
        .where(disbursements.c.paid_on >= start, disbursements.c.paid_on <= end)
        .group_by(disbursements.c.kind, disbursements.c.funding_source, year, month)
    )  # fmt: skip
    if province:
        statement = statement.where(disbursements.c.province == province)
    if ward:
        statement = statement.join(grants, grants.c.grant_id == disbursements.c.grant_id).where(
            grants.c.ward == ward
        )
    return list(await session.execute(statement))


async def add_referral(session: AsyncSession, values: Mapping[str, Any]) -> None:
    sealed = notes.sealed(session, "referrals", values["referral_id"], values)
    await session.execute(insert(referrals).values(**sealed))


async def referral(session: AsyncSession, referral_id: str) -> Any:
    rows = await session.execute(select(referrals).where(referrals.c.referral_id == referral_id))
    return notes.opened(session, "referrals", rows.first())


async def referrals_of(session: AsyncSession, case_id: str) -> list[Any]:
    rows = await session.execute(
        select(referrals).where(referrals.c.case_id == case_id).order_by(referrals.c.referral_id)
    )
    return [notes.opened(session, "referrals", row) for row in rows]


async def move_referral(
    session: AsyncSession, referral_id: str, expected: str, values: Mapping[str, Any]
) -> bool:
    result = await session.execute(
        update(referrals)
        .where(referrals.c.referral_id == referral_id, referrals.c.status == expected)
        .values(**notes.sealed(session, "referrals", referral_id, values))
    )
    return _changed(result)


async def add_follow_up(session: AsyncSession, values: Mapping[str, Any]) -> None:
    sealed = notes.sealed(session, "follow_ups", values["visit_id"], values)
    await session.execute(insert(follow_ups).values(**sealed))


async def follow_ups_of(session: AsyncSession, case_id: str) -> list[Any]:
    rows = await session.execute(
        select(follow_ups).where(follow_ups.c.case_id == case_id).order_by(follow_ups.c.visited_on)
    )
    return [notes.opened(session, "follow_ups", row) for row in rows]


async def list_grants(
    session: AsyncSession,
    *,
    status: str | None,
    case_id: str | None,
    province: str | None,
    ward: str | None,
    limit: int = 500,
) -> list[Any]:
    statement = select(grants)
    for column, value in ((grants.c.status, status), (grants.c.case_id, case_id),
                          (grants.c.province, province), (grants.c.ward, ward)):  # fmt: skip
        if value is not None:
            statement = statement.where(column == value)
    rows = await session.execute(statement.order_by(grants.c.grant_id).limit(limit))
    return [notes.opened(session, "grants", row) for row in rows]
