"""Notify's HTTP API."""

from fastapi import APIRouter

from shared.cases import register_api
from shared.diagnostics import receipts

router = APIRouter()
router.include_router(receipts)
router.include_router(register_api)
