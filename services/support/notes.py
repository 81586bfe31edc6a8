"""Support's free text (notes on grants, referrals and follow-up visits, household evidence)
sealed with support's vault like intake's personal data: AES-GCM, key id for rotation, bound
to its table, column and row, so a value moved elsewhere does not open."""

from collections import namedtuple
from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.vault import vault_of

SEALED: dict[str, tuple[str, tuple[str, ...]]] = {
    "grants": ("grant_id", ("decision_note",)),
    "referrals": ("referral_id", ("reason", "provider_note")),
    "follow_ups": ("visit_id", ("note",)),
    "support_cases": ("case_id", ("household_evidence",)),
}
"""Each table with free text: its key column and its sealed columns."""


def context(table: str, column: str, key: str) -> str:
    return f"support.{table}.{column}:{key}"


def sealed(session: AsyncSession, table: str, key: str, values: Mapping[str, Any]) -> Any:
    """``values`` with the table's free text sealed, for the row ``key``."""
    _, columns = SEALED[table]
    if all(values.get(name) is None for name in columns):
        return values  # nothing to seal: the vault is not needed
    vault = vault_of(session)
    return {
        name: vault.seal_text(value, context(table, name, key)) if name in columns else value
        for name, value in values.items()
    }


@cache
def _record(fields: tuple[str, ...]) -> Any:
    return namedtuple("Opened", fields)


def opened(session: AsyncSession, table: str, row: Any) -> Any:
    """``row`` (or None) with the table's free text opened; attributes and ``_asdict`` as a
    row has them."""
    if row is None:
        return None
    key_column, columns = SEALED[table]
    values = row._asdict()
    key = values[key_column]
    for name in columns:
        if values.get(name) is not None:
            values[name] = vault_of(session).open_text(values[name], context(table, name, key))
    return _record(tuple(values))(**values)
