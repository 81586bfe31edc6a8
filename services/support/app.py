"""Support's process: settings, subscriptions and routes assembled on the shared runtime."""

from pathlib import Path

from fastapi import FastAPI

from services.support import api, handlers
from services.support.settings import SupportSettings
from shared.runtime import ServiceSpec, build_app, serve

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: SupportSettings) -> FastAPI:
    spec = ServiceSpec(
        settings,
        subscriptions=handlers.subscriptions(),
        routers=[api.router],
        migrations=MIGRATIONS,
    )
    return build_app(spec)


def main() -> None:
    settings = SupportSettings()
    serve(create_app(settings), settings)
