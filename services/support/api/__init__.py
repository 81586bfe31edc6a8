"""Support's HTTP API: entitlements and grants, applications, the ledger, and casework."""

from fastapi import APIRouter

from services.support.api import applications, casework, grants, ledger
from services.support.api.common import Policy
from shared.cases import register_api
from shared.diagnostics import receipts

router = APIRouter()
for part in (receipts, register_api, grants.router, applications.router, ledger.router,
             casework.router):  # fmt: skip
    router.include_router(part)

__all__ = ["Policy", "router"]
