"""``safereturn``: run the platform and operate it.

safereturn up [--data-dir DIR] [--observability]     run every service in the foreground
safereturn demo [--data-dir DIR] [--exit] [--observability]
safereturn probe                        send a probe through a running platform
safereturn dlq list [--stream S] | show ID | replay ID... | replay --all
safereturn migrate [SERVICE...]         apply database migrations
safereturn vault create [SERVICE...]    make the services' keyrings (production: then mount them)
safereturn secrets init FOLDER          every secret a deployment needs (deploy/README.md)
safereturn redis acl [--write FILE]     the Redis ACL file: a user per party
safereturn integrators add --name N [--province PP] [--events T,…] | list | revoke N
"""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from safereturn import admin, dead_letters, integrators, redis_admin, secrets_folder
from safereturn.embedded import SERVICES, EmbeddedPlatform, LaunchError, running, wait_for_signal
from safereturn.observability.local import watching
from safereturn.observability.prometheus import PrometheusError
from safereturn.scenario import ApiClient, ScenarioError
from services.intake.identity.domain import IdentityError
from services.notify.api import AgencyIn
from services.notify.domain import AgencyKind
from services.notify.settings import NotifySettings
from shared.access import Role
from shared.names import Service
from shared.redis_acl import OPERATOR, is_redis72, with_credentials
from shared.settings import settings_for


def say(line: str = "") -> None:
    print(line, flush=True)


def _platform_settings(args: argparse.Namespace, *, operator: bool = True) -> tuple[Path, str]:
    """The data folder, and Redis as the operator: a URL without a user gets the operator's
    credentials that embedded mode keeps in the data folder, if there are any."""
    settings = settings_for("platform")
    data_dir = Path(args.data_dir) if args.data_dir else settings.data_dir
    redis_url = args.redis_url or settings.redis_url
    kept = data_dir / "redis" / "credentials.json"
    if operator and urlsplit(redis_url).username is None and kept.exists():
        password = json.loads(kept.read_text()).get(OPERATOR)
        redis_url = with_credentials(redis_url, OPERATOR, password) if password else redis_url
    return data_dir.resolve(), redis_url


def _urls() -> dict[str, str]:
    urls: dict[str, str] = {}
    for name in SERVICES:
        settings = settings_for(name)
        urls[name] = f"http://{settings.http_host}:{settings.port}"
    return urls


def _describe(platform: EmbeddedPlatform) -> None:
    say(f"SafeReturn (embedded mode), data in {platform.data_dir}")
    say(f"  redis         {platform.redis_description}")
    for service in platform.services:
        say(f"  {service.name:<13} {service.url}  ready  (pid {service.process.pid})")
    say(f"  logs          {platform.data_dir / 'logs'}")
    say("  a service that exits is restarted, and said so here")


def cmd_up(args: argparse.Namespace, *, scenario: bool = False) -> int:
    from safereturn import demo, demo_notify  # noqa: PLC0415

    data_dir, redis_url = _platform_settings(args, operator=False)
    # This process reads the services' settings too (demo clients, audit checks): same values.
    os.environ.update({"SAFERETURN_DATA_DIR": str(data_dir), "SAFERETURN_REDIS_URL": redis_url})
    os.environ.setdefault("SAFERETURN_MAINTENANCE_INTERVAL_S", "2")  # timers: seconds matter here
    # Webhooks go to public addresses only; the demo's receivers are all on loopback.
    os.environ.setdefault("SAFERETURN_NOTIFY_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8,::1/128")
    # SIGTERM stops the platform as Ctrl-C does, services before Redis.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    platform: EmbeddedPlatform | None = None
    try:
        with contextlib.ExitStack() as stack:
            peers = stack.enter_context(demo_notify.peers()) if scenario else None
            platform = stack.enter_context(running(data_dir, redis_url, say))
            # This process's tools act as the operator; what it reads as a service, as that one.
            os.environ.update(platform.access_env | {"SAFERETURN_REDIS_URL": platform.operator_url})
            _describe(platform)
            if getattr(args, "observability", False):
                stack.enter_context(watching(platform, args.prometheus_port, say))
            credentials = NotifySettings().credentials_file
            if admin.provision_service_client(Service.NOTIFY, credentials):
                say(f"  notify's own client at intake, credentials in {credentials}")
            if peers is not None:
                say()
                demo.play(_urls(), platform.redis_urls, say, peers, data_dir)
            if getattr(args, "exit", False):
                return 0
            say()
            say("Platform running. Press Ctrl-C to stop.")
            wait_for_signal()
            say("Stopping: the services first, then Redis…")
    except (LaunchError, ScenarioError, PrometheusError) as error:
        say(f"error: {error}")
        return 1
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, or the launcher gave up on a service
        if platform is None or not platform.failure:
            say("Interrupted: the services were stopped first, then Redis.")
    if platform is not None and platform.failure:
        say(f"error: {platform.failure}")
        return 1
    say("Stopped.")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from safereturn import demo  # noqa: PLC0415

    if not (args.client_id and args.client_secret):
        say("probe needs an admin client: --client-id and --client-secret (or SAFERETURN_CLIENT_ID")
        say("and SAFERETURN_CLIENT_SECRET); create one with `safereturn clients create`")
        return 2
    try:
        api = ApiClient(_urls(), args.client_id, args.client_secret)
        try:
            demo.probe(api, say)
        finally:
            api.close()
    except ScenarioError as error:
        say(f"error: {error}")
        return 1
    return 0


def _notify_commands(commands: Any) -> None:
    agencies = commands.add_parser("agencies", help="notify's agency directory")
    agency_commands = agencies.add_subparsers(dest="agencies_command", required=True)
    add = agency_commands.add_parser("add", help="add an agency with its channels")
    add.add_argument("--name", required=True)
    add.add_argument("--kind", required=True, choices=[str(kind) for kind in AgencyKind])
    add.add_argument("--province", help="two-digit province code (omit for national)")
    add.add_argument("--ward", help="five-digit commune code")
    add.add_argument("--email", action="append", default=[], dest="emails")
    add.add_argument("--phone", action="append", default=[], dest="phones")
    add.add_argument("--webhook", action="append", default=[], dest="webhooks")
    add.add_argument("--language", choices=["vi", "en"], default="vi")
    listed = agency_commands.add_parser("list", help="list the directory")
    listed.add_argument("--province")
    remove = agency_commands.add_parser("remove", help="remove an agency")
    remove.add_argument("id")
    notify = commands.add_parser("notify", help="notify's deliveries")
    notify_replay = notify.add_subparsers(dest="notify_command", required=True).add_parser(
        "replay", help="send failed deliveries again (with fresh attempts)"
    )
    notify_replay.add_argument("ids", nargs="*", metavar="ID")
    notify_replay.add_argument("--all", action="store_true", help="every failed delivery")


def _platform_options(sub: argparse.ArgumentParser, default: object = None) -> None:
    sub.add_argument(
        "--data-dir", default=default, help="data folder (default: SAFERETURN_DATA_DIR or ./data)"
    )
    sub.add_argument(
        "--redis-url", default=default, help="Redis to use or start (default: SAFERETURN_REDIS_URL)"
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="safereturn", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)

    def platform_command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        _platform_options(sub)
        return sub

    up = platform_command("up", "run every service in the foreground until Ctrl-C")
    demo = platform_command("demo", "run the platform and play the scenario")
    for sub in (up, demo):
        sub.add_argument(
            "--observability",
            action="store_true",
            help="also run Prometheus scraping every service, alert rules loaded",
        )
        sub.add_argument(
            "--prometheus-port", type=int, help="default: SAFERETURN_PROMETHEUS_PORT or 9090",
            default=int(os.environ.get("SAFERETURN_PROMETHEUS_PORT", "9090")),
        )  # fmt: skip
    demo.add_argument("--exit", action="store_true", help="stop after the scenario")
    probe = commands.add_parser("probe", help="send a probe through a running platform")
    probe.add_argument("--client-id", default=os.environ.get("SAFERETURN_CLIENT_ID"))
    probe.add_argument("--client-secret", default=os.environ.get("SAFERETURN_CLIENT_SECRET"))

    dead_letters.add_commands(platform_command("dlq", "inspect and replay dead letters"))

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("services", nargs="*", type=Service, metavar="SERVICE")

    clients = commands.add_parser("clients", help="API clients of agency systems")
    client_commands = clients.add_subparsers(dest="clients_command", required=True)
    create = client_commands.add_parser("create", help="create a client; prints its secret once")
    create.add_argument("--agency", required=True, help="the agency the client acts for")
    create.add_argument("--role", required=True, choices=[str(role) for role in Role])
    create.add_argument("--province", help="two-digit province code (omit for national)")
    create.add_argument("--ward", help="five-digit commune code (needs --province)")
    client_commands.add_parser("list", help="list clients (never their secrets)")
    revoke = client_commands.add_parser("revoke", help="revoke a client everywhere at once")
    revoke.add_argument("id")
    rotate = client_commands.add_parser("rotate-secret", help="give a client a new secret")
    rotate.add_argument("id")

    vault = commands.add_parser("vault", help="the services' keyrings; intake's vault")
    vault_commands = vault.add_subparsers(dest="vault_command", required=True)
    vault_commands.add_parser(
        "rotate", help="make a new key active and seal every stored value again with it"
    )
    create_vault = vault_commands.add_parser(
        "create", help="make each service's keyring where its settings say (an existing one is "
        "kept); to be stored as a secret, since losing it makes every sealed value unreadable",
    )  # fmt: skip
    create_vault.add_argument("services", nargs="*", type=Service, metavar="SERVICE")

    made = (
        commands.add_parser("secrets", help="a deployment's secrets")
        .add_subparsers(dest="secrets_command", required=True)
        .add_parser("init", help="make every secret a deployment needs in FOLDER (keeps existing)")
    )
    made.add_argument("folder", type=Path)
    made.add_argument("--redis-url", default="redis://redis:6379/0",
                      help="where the services reach Redis (default: %(default)s)")  # fmt: skip
    made.add_argument("--redis-version", default="7.0",
                      help="the Redis server's version (default: %(default)s)")  # fmt: skip

    keys = commands.add_parser("keys", help="token signing keys, the submissions' encryption key")
    rotate = keys.add_subparsers(dest="keys_command", required=True).add_parser(
        "rotate", help="sign new tokens with a new key; old tokens stay valid until they expire"
    )
    rotate.add_argument(
        "--encryption", action="store_true",
        help="rotate the key agency systems encrypt submissions to instead; the old one still "
        "opens submissions for SAFERETURN_INTAKE_SUBMISSION_MAX_AGE_S",
    )  # fmt: skip

    _notify_commands(commands)
    redis_admin.add_commands(commands, _platform_options)
    integrators.add_commands(commands, _platform_options)

    from safereturn import stats_export  # noqa: PLC0415

    stats_export.add_commands(commands)  # stats rebuild, stats export-htcds

    audit = commands.add_parser("audit", help="the audit logs")
    verify = audit.add_subparsers(dest="audit_command", required=True).add_parser(
        "verify", help="check every service's hash chain"
    )
    verify.add_argument("services", nargs="*", type=Service, metavar="SERVICE")
    return root


def cmd_migrate(args: argparse.Namespace) -> int:
    asyncio.run(admin.migrate(say, args.services or list(Service)))
    return 0


def cmd_clients(args: argparse.Namespace) -> int:
    try:
        match args.clients_command:
            case "create":
                asyncio.run(
                    admin.create_client(say, args.agency, args.role, args.province, args.ward)
                )
            case "list":
                asyncio.run(admin.list_clients(say))
            case "revoke":
                asyncio.run(admin.revoke_client(say, args.id))
            case "rotate-secret":
                asyncio.run(admin.rotate_secret(say, args.id))
    except (LookupError, IdentityError) as error:
        say(f"error: {error}")
        return 1
    return 0


def cmd_agencies(args: argparse.Namespace) -> int:
    match args.agencies_command:
        case "add":
            fields = ("name", "kind", "province", "ward", "emails", "phones", "webhooks",
                      "language")  # fmt: skip
            try:
                agency = AgencyIn.model_validate({f: getattr(args, f) for f in fields})
            except ValidationError as error:
                for problem in error.errors():
                    say(f"error: {'.'.join(map(str, problem['loc']))}: {problem['msg']}")
                return 2
            asyncio.run(admin.add_agency(say, agency.model_dump(mode="json")))
        case "list":
            asyncio.run(admin.list_agencies(say, args.province))
        case "remove":
            return 0 if asyncio.run(admin.remove_agency(say, args.id)) else 1
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    if not (args.ids or args.all):
        say("replay needs delivery ids or --all")
        return 2
    asyncio.run(admin.replay_deliveries(say, None if args.all else args.ids))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    if args.stats_command == "export-htcds":
        from safereturn import stats_export  # noqa: PLC0415

        return stats_export.command(args, say)
    asyncio.run(admin.rebuild_stats(say))
    return 0


def cmd_integrators(args: argparse.Namespace) -> int:
    data_dir, redis_url = _platform_settings(args)
    os.environ["SAFERETURN_DATA_DIR"] = str(data_dir)  # notify's database is found there too
    return integrators.command(args, redis_url, say)


def cmd_keys(args: argparse.Namespace) -> int:
    asyncio.run(admin.rotate_keys(say, encryption=args.encryption))
    return 0


def cmd_secrets(args: argparse.Namespace) -> int:
    secrets_folder.init(say, args.folder, redis_url=args.redis_url,
                        redis72=is_redis72(args.redis_version))  # fmt: skip
    return 0


def cmd_vault(args: argparse.Namespace) -> int:
    if args.vault_command == "create":
        admin.create_keyrings(say, args.services or list(Service))
    else:
        asyncio.run(admin.rotate_vault_key(say))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    return 0 if asyncio.run(admin.verify_audit(say, args.services or list(Service))) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "up": cmd_up,
        "demo": lambda a: cmd_up(a, scenario=True),
        "probe": cmd_probe,
        "dlq": lambda a: dead_letters.command(a, _platform_settings(a)[1], say),
        "migrate": cmd_migrate,
        "clients": cmd_clients,
        "keys": cmd_keys,
        "vault": cmd_vault,
        "secrets": cmd_secrets,
        "audit": cmd_audit,
        "agencies": cmd_agencies,
        "notify": cmd_notify,
        "stats": cmd_stats,
        "redis": lambda a: redis_admin.command(a, *_platform_settings(a), say),
        "integrators": cmd_integrators,
    }
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
