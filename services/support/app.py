"""Support's process: settings, legal tables, subscriptions and routes on the shared runtime."""

from pathlib import Path

from fastapi import FastAPI

from services.support import api, handlers, timers
from services.support.applications import load_procedures
from services.support.policies import load_rules
from services.support.settings import SupportSettings
from shared.runtime import ServiceSpec
from shared.webapp import build_app, serve

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: SupportSettings) -> FastAPI:
    spec = ServiceSpec(
        settings,
        subscriptions=handlers.subscriptions(),
        routers=[api.router],
        migrations=MIGRATIONS,
        housekeeping=timers.fire_timers,
    )
    procedures = load_procedures(  # a bad table stops the service here, not mid-request
        settings.application_limits_file, settings.unknown_application_limit_days
    )
    app = build_app(spec)
    app.state.application_procedures = procedures
    app.state.policy = api.Policy(load_rules(settings.policy_dir), settings.approval_threshold_vnd)
    return app


def main() -> None:
    settings = SupportSettings()
    serve(create_app(settings), settings)
