"""Intake's process: settings, subscriptions and routes assembled on the shared runtime."""

from pathlib import Path

from fastapi import FastAPI

from services.intake import api, handlers
from services.intake.settings import IntakeSettings
from shared.runtime import ServiceSpec, build_app, serve

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings) -> FastAPI:
    spec = ServiceSpec(
        settings,
        subscriptions=handlers.subscriptions(),
        routers=[api.router],
        migrations=MIGRATIONS,
    )
    return build_app(spec)


def main() -> None:
    settings = IntakeSettings()
    serve(create_app(settings), settings)
