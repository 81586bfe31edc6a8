"""Support's HTTP API: entitlements and grants, the ledger, and casework."""

from fastapi import APIRouter

from services.support.api import casework, grants, ledger
from services.support.api.common import Policy
from shared.cases import register_api
from shared.diagnostics import receipts

router = APIRouter()
for part in (receipts, register_api, grants.router, ledger.router, casework.router):
    router.include_router(part)

__all__ = ["Policy", "router"]
