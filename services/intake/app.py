"""Intake's process: settings, subscriptions and routes assembled on the shared runtime."""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.intake import api, handlers
from services.intake.identity import admin
from services.intake.identity import api as identity
from services.intake.reports import api as reports
from services.intake.reports import handlers as submissions
from services.intake.reports.contract import with_submissions
from services.intake.reports.encrypted import Opener
from services.intake.reports.vault import Vault
from services.intake.settings import IntakeSettings
from shared.runtime import Platform, ServiceSpec
from shared.webapp import build_app, serve

MIGRATIONS = Path(__file__).parent / "migrations"


def housekeeping(vault: Vault) -> Callable[[Platform], Awaitable[None]]:
    async def run(platform: Platform) -> None:
        """Keep Redis's revocation list complete (even after a Redis loss); pick up a
        rotated vault keyring so new values are sealed with the new key; have a key for
        agency systems to encrypt submissions to."""
        vault.reload_if_changed()
        async with platform.database.reading() as session:
            await admin.publish_revocations(session, platform.redis)
            sealing = await admin.encryption_key(session)
        if sealing is None:
            async with platform.database.transaction() as session:
                await admin.current_encryption_key(session)

    return run


def opener(settings: IntakeSettings) -> Callable[[Platform], Opener]:
    max_age = timedelta(seconds=settings.submission_max_age_s)

    def make(platform: Platform) -> Opener:
        keys = identity.local_encryption_keys(platform, max_age)
        accept = settings.submission_accept_plaintext
        return Opener(keys, accept_plaintext=accept, max_bytes=settings.max_body_bytes * 2)

    return make


def create_app(settings: IntakeSettings) -> FastAPI:
    vault = Vault.load(settings.vault_path, create=settings.vault_create)
    spec = ServiceSpec(
        settings,
        catalogue=with_submissions,
        subscriptions=[*handlers.subscriptions(), submissions.case_subscription()],
        platform_subscriptions=submissions.subscriptions(
            vault, opener(settings), timedelta(seconds=settings.submission_max_age_s)
        ),
        routers=[api.router, identity.router, reports.router],
        public_routers=[identity.public],
        migrations=MIGRATIONS,
        signing_keys=identity.local_signing_keys,
        housekeeping=housekeeping(vault),
    )
    app = build_app(spec)
    app.state.vault = vault
    return app


def main() -> None:
    settings = IntakeSettings()
    serve(create_app(settings), settings)
