"""``safereturn redis acl``: the ACL file (integrators' users: ``safereturn integrators``)."""

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from safereturn import redis_access
from shared.names import Service
from shared.private import write_private
from shared.redis_acl import (
    acl_file,
    is_redis72,
    other_users,
    platform_users,
    with_credentials,
)

Say = Callable[[str], None]


def add_commands(
    commands: Any, platform_options: Callable[[argparse.ArgumentParser, object], None]
) -> None:
    """``safereturn redis acl``."""
    redis_commands = commands.add_parser("redis", help="Redis access").add_subparsers(
        dest="redis_command", required=True
    )
    acl = redis_commands.add_parser("acl", help="print or write the ACL file (a user per party)")
    platform_options(acl, None)
    acl.add_argument("--write", metavar="FILE", help="write it there (keeping integrators)")
    acl.add_argument(
        "--credentials", metavar="FILE",
        help="the parties' passwords, kept and reused (default: <data-dir>/redis/credentials.json)",
    )  # fmt: skip
    acl.add_argument("--redis-version", help="the server's version (default: ask it, else 7.2)")


def command(args: argparse.Namespace, data_dir: Path, redis_url: str, say: Say) -> int:
    """Run ``safereturn redis …`` (``redis_url``: as the operator)."""
    credentials = data_dir / "redis" / "credentials.json"
    credentials = Path(args.credentials) if args.credentials else credentials
    write = Path(args.write) if args.write else None
    return acl(say, redis_url, credentials, write, args.redis_version)


def _server_version(redis_url: str) -> str | None:
    try:
        return redis_access.version_of(redis_url)
    except redis.RedisError:
        return None


def acl(
    say: Say, redis_url: str, credentials: Path, write: Path | None, version: str | None
) -> int:
    """Print (or write) the ACL file; passwords are made once and kept in ``credentials``."""
    version = version or _server_version(redis_url) or "7.2.0"
    users = platform_users(redis72=is_redis72(version))
    passwords = redis_access.passwords_for(credentials, users)
    if write is None:
        say(acl_file(users, passwords).rstrip("\n"))
        return 0
    kept = other_users(write.read_text(), users) if write.exists() else []
    write_private(write, acl_file(users, passwords, kept=kept))
    say(f"wrote {write} for Redis {version}: {len(users)} users, default off"
        + (f", {len(kept)} kept (integrators)" if kept else ""))  # fmt: skip
    say(f"passwords (readable by their owner only): {credentials}; give each service its own:")
    for service in Service:
        url = with_credentials(redis_url, service, "<password>")
        say(f"  SAFERETURN_{service.upper()}_REDIS_URL={url}")
    say("load it with `aclfile` in redis.conf (or ACL LOAD on a running server)")
    return 0
