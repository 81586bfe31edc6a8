"""Giving each party of a platform run its own Redis user and each service its signing key.

Used by embedded mode, ``safereturn redis acl`` and the test harnesses: passwords are made
once and kept (readable by their owner only) beside Redis's data, the ACL file stores only
their hashes, and each service is told its own URL (``SAFERETURN_<SERVICE>_REDIS_URL``) and
every service's public signing key (``SAFERETURN_EVENT_PUBLIC_KEYS``).
"""

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import redis

from shared.names import Service
from shared.private import write_private
from shared.redis_acl import (
    User,
    acl_file,
    generate_password,
    is_redis72,
    other_users,
    platform_users,
    with_credentials,
)
from shared.signing import ensure_key


def passwords_for(path: Path, users: Iterable[User]) -> dict[str, str]:
    """The passwords kept at ``path``, with new ones made for users that have none yet."""
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [user.name for user in users if user.name not in known]
    if missing or not path.exists():
        known |= {name: generate_password() for name in missing}
        write_private(path, json.dumps(known, indent=2))
    return known


def write_acl(path: Path, users: list[User], passwords: Mapping[str, str]) -> None:
    """Write the ACL file, keeping the users added at run time (integrators)."""
    kept = other_users(path.read_text(), users) if path.exists() else []
    write_private(path, acl_file(users, passwords, kept=kept))


def apply(admin_url: str, users: Iterable[User], passwords: Mapping[str, str]) -> None:
    """Create or reset ``users`` on a running Redis with ``ACL SETUSER``."""
    client = redis.Redis.from_url(admin_url)
    try:
        for user in users:
            command = ("ACL", "SETUSER", *user.setuser(passwords[user.name]))
            client.execute_command(*command)  # type: ignore[no-untyped-call]
    finally:
        client.close()


def version_of(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


def service_env(
    redis_url: str, passwords: Mapping[str, str], data_dir: Path, *, waitaof: bool
) -> dict[str, str]:
    """The settings that make each service connect as its own user and sign its events.

    Without WAITAOF (Redis < 7.2) the services may not run CONFIG GET (it would show every
    setting): the Redis started here runs ``appendfsync always`` and says so."""
    env = {
        f"SAFERETURN_{service.upper()}_REDIS_URL": with_credentials(
            redis_url, service, passwords[service]
        )
        for service in Service
    }
    keys = {service: [ensure_key(data_dir / "keys" / f"{service}.events.pem")]
            for service in Service}  # fmt: skip
    env["SAFERETURN_EVENT_PUBLIC_KEYS"] = json.dumps(keys)
    if not waitaof:
        env["SAFERETURN_REDIS_FSYNC_DECLARED"] = "true"
    return env


def provision(admin_url: str, redis_url: str, credentials: Path, data_dir: Path) -> dict[str, str]:
    """Create the platform's users on a running Redis (as ``admin_url``); the services' env."""
    waitaof = is_redis72(version_of(admin_url))
    users = platform_users(redis72=waitaof)
    passwords = passwords_for(credentials, users)
    apply(admin_url, users, passwords)
    return service_env(redis_url, passwords, data_dir, waitaof=waitaof)
