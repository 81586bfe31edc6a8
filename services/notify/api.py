"""Notify's HTTP API."""

from fastapi import APIRouter

from shared.diagnostics import receipts

router = APIRouter()
router.include_router(receipts)
