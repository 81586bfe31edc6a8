"""Verification's process: settings, subscriptions and routes assembled on the shared runtime."""

from pathlib import Path

from fastapi import FastAPI

from services.verification import api, handlers
from services.verification.settings import VerificationSettings
from shared.runtime import ServiceSpec, build_app, serve

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: VerificationSettings) -> FastAPI:
    spec = ServiceSpec(
        settings,
        subscriptions=handlers.subscriptions(),
        routers=[api.router],
        migrations=MIGRATIONS,
    )
    return build_app(spec)


def main() -> None:
    settings = VerificationSettings()
    serve(create_app(settings), settings)
