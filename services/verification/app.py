"""Verification's process: settings, subscriptions, timers and routes on the shared runtime."""

from pathlib import Path

from fastapi import FastAPI

from services.verification import api, domain, handlers
from services.verification.settings import VerificationSettings
from shared.runtime import ServiceSpec
from shared.webapp import build_app, serve

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: VerificationSettings) -> FastAPI:
    limits = domain.load_limits(unknown_days=settings.unknown_limit_days)
    spec = ServiceSpec(
        settings,
        subscriptions=handlers.subscriptions(limits),
        routers=[api.router],
        migrations=MIGRATIONS,
        housekeeping=handlers.fire_timers,
    )
    return build_app(spec)


def main() -> None:
    settings = VerificationSettings()
    serve(create_app(settings), settings)
