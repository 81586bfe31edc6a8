"""Notify's process: routing rules, subscriptions, the delivery worker, the queue's figures and
routes on the shared runtime."""

from pathlib import Path

from fastapi import FastAPI

from services.notify import api, api_subscriptions, domain, handlers, metrics, store
from services.notify.catalogue import with_integrator_streams
from services.notify.delivery import Deliverer
from services.notify.egress import Resolver, system_resolver
from services.notify.messages import Messages
from services.notify.settings import NotifySettings
from shared import figures
from shared.runtime import Platform, ServiceSpec
from shared.webapp import build_app, serve

MIGRATIONS = Path(__file__).parent / "migrations"


async def observe_queue(platform: Platform) -> None:
    """The delivery queue's figures, from whichever replica holds their lease."""
    counts = None
    if await figures.ours(platform.redis, "notify-queue", platform.instance,
                          platform.settings.maintenance_interval_s):  # fmt: skip
        async with platform.database.reading() as session:
            counts = await store.queue(session)
    metrics.observe_queue(platform, counts)


def create_app(settings: NotifySettings, resolver: Resolver = system_resolver) -> FastAPI:
    """Notify's app; ``resolver`` finds webhook hosts' addresses (a test may give its own)."""
    _ = settings.intake  # where intake is must be known at start-up, not at the first delivery
    routes = domain.load_routes(settings.routes_file)
    messages = Messages(settings.templates_dir)

    async def deliver(platform: Platform) -> None:
        await Deliverer(platform, settings, messages, resolver).run()

    spec = ServiceSpec(
        settings,
        subscriptions=handlers.subscriptions(routes),
        routers=[api.router, api_subscriptions.router],
        migrations=MIGRATIONS,
        workers=[deliver],
        housekeeping=observe_queue,
        catalogue=with_integrator_streams,
    )
    app = build_app(spec)
    app.state.settings = settings
    app.state.resolver = resolver
    return app


def main() -> None:
    settings = NotifySettings()
    serve(create_app(settings), settings)
