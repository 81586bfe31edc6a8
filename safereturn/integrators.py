"""``safereturn integrators add|list|revoke``: integrators who read their own Redis stream.

Adding one registers it in notify's database (from then on notify feeds its stream: the
consent-filtered coded views of its area's case events of the types it chose), creates its
stream with its consumer group, and its Redis ACL user, which may read that stream and
nothing else; the password is printed once. Revoking stops the feed, deletes the user
(Redis disconnects it) and the stream. On a Redis Cluster the user is set on every node."""

import argparse
import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from safereturn import admin
from services.notify import integrators
from services.notify.integrators import Integrator
from shared import redis_connect
from shared.names import Service, integrator_group, integrator_stream
from shared.redis_acl import (
    INTEGRATOR_PREFIX,
    User,
    generate_password,
    integrator_user,
    is_redis72,
    with_credentials,
)
from shared.settings import settings_for

Say = Callable[[str], None]
CONTRACT = "docs/asyncapi.json, channel `integrator` (notify serves it at GET /asyncapi.json)"


def add_commands(
    commands: Any, platform_options: Callable[[argparse.ArgumentParser, object], None]
) -> None:
    """``safereturn integrators add --name N --province P|--national [--events T,…] | list |
    revoke N``."""
    parser = commands.add_parser("integrators", help="integrators who read their own stream")
    sub = parser.add_subparsers(dest="integrators_command", required=True)
    add = sub.add_parser("add", help="create an integrator; prints its credentials once")
    add.add_argument("--name", required=True, help="1-60 letters, digits, - and _")
    area = add.add_mutually_exclusive_group(required=True)
    area.add_argument("--province", help="two-digit 2025 province code")
    area.add_argument("--national", action="store_true", help="every province's cases")
    add.add_argument(
        "--events", help="comma-separated case event types (default: every type shown to "
        f"integrators: {', '.join(integrators.EVENT_TYPES)})",
    )  # fmt: skip
    listed = sub.add_parser("list", help="integrators, their area, events and backlog")
    listed.add_argument("--revoked", action="store_true", help="revoked ones too")
    revoke = sub.add_parser("revoke", help="stop an integrator's feed, user and stream")
    revoke.add_argument("name")
    for command in (add, listed, revoke):
        platform_options(command, None)


def command(args: argparse.Namespace, redis_url: str, say: Say) -> int:
    """Run ``safereturn integrators …`` (``redis_url``: as the operator)."""
    client = redis_connect.sync_client(redis_url, cluster=settings_for("platform").redis_cluster)
    try:
        match args.integrators_command:
            case "add":
                events = None if args.events is None else _split(args.events)
                province = None if args.national else args.province
                return add(say, client, redis_url, integrators.asked(args.name, province, events))
            case "list":
                return list_integrators(say, client, revoked=args.revoked)
            case _:
                return revoke(say, client, args.name)
    except ValueError as error:  # what was asked for cannot be
        say(f"error: {error}")
        return 2
    except redis.RedisError as error:  # nothing is left half made (see add)
        say(f"error: Redis: {error}")
        return 1
    finally:
        client.close()


def _split(events: str) -> list[str]:
    return [event.strip() for event in events.split(",") if event.strip()]


def _every_node(client: redis.Redis, *command: str) -> None:
    """Run ``command`` on the server, or on every node of a cluster (ACLs are per node)."""
    if redis_connect.is_cluster(client):
        nodes = client.get_nodes()  # type: ignore[attr-defined]
        client.execute_command(*command, target_nodes=nodes)  # type: ignore[no-untyped-call]
    else:
        client.execute_command(*command)  # type: ignore[no-untyped-call]


def _save_acl(client: redis.Redis, missing: str) -> str:
    """ACL SAVE; what to say, and ``missing`` (what the operator must do) if there is no file."""
    try:
        _every_node(client, "ACL", "SAVE")
    except redis.ResponseError:  # the server runs without an ACL file: the change is in memory
        return f"not saved (the server has no ACL file, so it lasts until a restart): {missing}"
    return "saved to the server's ACL file"


def _version(client: redis.Redis) -> str:
    info = client.info("server")
    if redis_connect.is_cluster(client):  # one answer per node: {node: info}
        info = next(iter(info.values()))
    return str(info["redis_version"])


@dataclass(frozen=True)
class Added:
    integrator: Integrator
    user: User
    password: str
    saved: str

    def url(self, redis_url: str) -> str:
        return with_credentials(redis_url, self.user.name, self.password)


def added(client: redis.Redis, asked: Integrator) -> Added:
    """Register, then make the stream, its group and the user (undoing the registration if
    they cannot be made); LookupError if the name is an active integrator's."""
    integrator = asyncio.run(_register(asked))
    try:
        return Added(integrator, *_provision(client, integrator))
    except BaseException:
        asyncio.run(_revoke(integrator.name))  # registered without a user: undone
        raise


def add(say: Say, client: redis.Redis, redis_url: str, asked: Integrator) -> int:
    """Add the integrator; print its credentials, once."""
    try:
        done = added(client, asked)
    except LookupError as error:
        say(f"error: {error}")
        return 1
    integrator, user = done.integrator, done.user
    events = ", ".join(sorted(integrator.event_types or ())) or "every type shown to integrators"
    say(f"integrator {integrator.name} added for {integrator.area}; user {user.name} {done.saved}")
    say(f"  url       {done.url(redis_url)}")
    say(f"  user      {user.name}")
    say(f"  password  {done.password}   (shown once; Redis keeps only its hash)")
    say(f"  stream    {integrator.stream}")
    say(f"  group     {integrator_group(integrator.name)}   (XREADGROUP GROUP <group> <consumer> "
        "STREAMS <stream> >, then XACK)")  # fmt: skip
    say(f"  events    {events}")
    say(f"  contract  {CONTRACT}")
    return 0


def _provision(client: redis.Redis, integrator: Integrator) -> tuple[User, str, str]:
    """The stream with the integrator's group, and its user with a new password."""
    client.delete(integrator.stream)  # anything an earlier integrator of this name left
    client.xgroup_create(integrator.stream, integrator_group(integrator.name), id="0",
                         mkstream=True)  # fmt: skip
    user = integrator_user(integrator.name, redis72=is_redis72(_version(client)))
    password = generate_password()
    _every_node(client, "ACL", "SETUSER", *user.setuser(password))
    missing = f"add this line to your ACL file:\n  {user.line(password)}"
    return user, password, _save_acl(client, missing)


async def _register(asked: Integrator) -> Integrator:
    async with admin.database_of(Service.NOTIFY) as database, database.transaction() as session:
        added = await integrators.add(session, asked, datetime.now(UTC))
        await admin.audit_operator(
            session, "integrators add", f"integrator {asked.name}", Service.NOTIFY
        )
    return added


def list_integrators(say: Say, client: redis.Redis, *, revoked: bool) -> int:
    """Each integrator with its area, events and what waits on its stream."""
    found = asyncio.run(_every(revoked=revoked))
    if not found:
        say("no integrators")
    for integrator in found:
        events = ",".join(sorted(integrator.event_types or ())) or "all"
        state = "revoked" if integrator.revoked_at else _backlog(client, integrator)
        created = f"{integrator.created_at:%Y-%m-%d}" if integrator.created_at else "-"
        say(f"{integrator.name:<24} {integrator.area:<12} {created}  {state}  events {events}")
    return 0


async def _every(*, revoked: bool) -> Sequence[Integrator]:
    async with admin.database_of(Service.NOTIFY) as database, database.reading() as session:
        return await integrators.every(session, revoked=revoked)


def _backlog(client: redis.Redis, integrator: Integrator) -> str:
    try:
        groups = client.xinfo_groups(integrator.stream)
    except redis.ResponseError:
        return "no stream"
    mine = [g for g in groups if _text(g["name"]) == integrator_group(integrator.name)]
    if not mine:
        return f"{client.xlen(integrator.stream)} entries, no group"
    group = mine[0]
    return f"unread {group.get('lag', '?')}, pending {group['pending']}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def revoke(say: Say, client: redis.Redis, name: str) -> int:
    """Stop the feed first (nothing new is written), then remove the user and the stream —
    again if an earlier revoke stopped half way (Redis down), so it can always be finished."""
    stream = integrator_stream(name)  # ValueError for a name no integrator can have
    was_active = asyncio.run(_revoke(name))
    if was_active is None:
        say(f"no integrator {name}")
        return 1
    user = f"{INTEGRATOR_PREFIX}{name}"
    _every_node(client, "ACL", "DELUSER", user)
    saved = _save_acl(client, f"remove the `user {user}` line from your ACL file")
    client.delete(stream)
    state = "revoked" if was_active else "was revoked already"
    say(f"integrator {name} {state}: its feed stopped, its user deleted ({saved}), its stream "
        "deleted")  # fmt: skip
    return 0


async def _revoke(name: str) -> bool | None:
    async with admin.database_of(Service.NOTIFY) as database, database.transaction() as session:
        done = await integrators.revoke(session, name, datetime.now(UTC))
        if done:
            await admin.audit_operator(
                session, "integrators revoke", f"integrator {name}", Service.NOTIFY
            )
    return done
