"""Adding agencies to the directory, for the API and the ``safereturn agencies`` command alike."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from services.notify import store
from services.notify.channels import new_webhook_secret


async def add(
    session: AsyncSession, values: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The agency as stored (without its secret) and its webhook secret, to show once."""
    secret = new_webhook_secret() if values.get("webhooks") else None
    row = {"agency_id": f"ag-{uuid7().hex[-12:]}", "emails": [], "phones": [], "webhooks": [],
           "language": "vi", "province": None, "ward": None, **values,
           "webhook_secret": secret, "created_at": datetime.now(UTC)}  # fmt: skip
    await store.add_agency(session, row)
    return shown(row), secret


def shown(row: Any) -> dict[str, Any]:
    values = dict(row._asdict() if hasattr(row, "_asdict") else row)
    return {k: v for k, v in values.items() if k not in ("webhook_secret", "created_at")}
