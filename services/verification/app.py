"""Verification's process: settings, subscriptions, timers and routes on the shared runtime."""

from pathlib import Path

from fastapi import FastAPI

from services.verification import api, handlers, procedures
from services.verification.settings import VerificationSettings
from shared.runtime import ServiceSpec
from shared.webapp import build_app, serve

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: VerificationSettings) -> FastAPI:
    loaded = procedures.load(  # a file that cannot be trusted stops the start
        unknown_days=settings.unknown_limit_days, unknown_limits=settings.unknown_limits
    )
    spec = ServiceSpec(
        settings,
        subscriptions=handlers.subscriptions(loaded),
        routers=[api.router],
        migrations=MIGRATIONS,
        housekeeping=handlers.fire_timers,
    )
    app = build_app(spec)
    app.state.procedures = loaded
    return app


def main() -> None:
    settings = VerificationSettings()
    serve(create_app(settings), settings)
