"""Stats' process: settings, subscriptions and routes assembled on the shared runtime."""

from pathlib import Path

from fastapi import FastAPI

from services.stats import api, handlers, public, tallies
from services.stats.arrivals import Arrivals
from services.stats.settings import StatsSettings
from shared.runtime import Platform, ServiceSpec
from shared.webapp import build_app, serve

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: StatsSettings) -> FastAPI:
    arrivals = Arrivals()

    async def read_your_writes(platform: Platform) -> None:
        await arrivals.looking(platform.database)

    spec = ServiceSpec(
        settings,
        subscriptions=handlers.subscriptions(arrivals.landed),
        routers=[api.router, public.router],
        public_routers=[public.public],
        migrations=MIGRATIONS,
        housekeeping=tallies.fill_once,
        workers=[read_your_writes],
    )
    app = build_app(spec)
    app.state.settings = settings
    app.state.arrivals = arrivals
    public.install(app, app.state.platform)
    return app


def main() -> None:
    settings = StatsSettings()
    serve(create_app(settings), settings)
