"""``safereturn secrets init DIR``: every secret a deployment needs, made once in one folder
(owner-only files) for Compose's or Kubernetes' secrets to mount — run again, it keeps what
exists and makes only what is missing.

Per service: its keyring (``<service>-vault.json``), its event-signing key
(``<service>.events.pem``), its Redis URL with its own ACL user's password
(``<service>-redis-url``), its database's password and URL (``<service>-postgres-password``,
``<service>-database-url``). For the platform: Redis's ACL file (``users.acl``, hashes only),
the passwords behind it (``redis-credentials.json``), the ``monitor`` user's for KEDA's scaler
(``monitor-redis-password``), and every service's public signing key
(``event-public-keys.json``, the value of ``SAFERETURN_EVENT_PUBLIC_KEYS``: not secret)."""

import json
from pathlib import Path

from safereturn import redis_access
from safereturn.redis_admin import Say
from shared.names import Service
from shared.private import write_private
from shared.redis_acl import (
    MONITOR,
    acl_file,
    generate_password,
    other_users,
    platform_users,
    with_credentials,
)
from shared.signing import ensure_key
from shared.vault import Vault

DATABASE_HOST = "postgres-{service}"  # Compose's and Kubernetes' name for a service's database


def init(
    say: Say, folder: Path, *, redis_url: str, redis72: bool, database_host: str = DATABASE_HOST
) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    users = platform_users(redis72=redis72)
    passwords = redis_access.passwords_for(folder / "redis-credentials.json", users)
    acl = folder / "users.acl"
    kept = other_users(acl.read_text(), users) if acl.exists() else []  # integrators added since
    write_private(acl, acl_file(users, passwords, kept=kept))
    public_keys = {}
    for service in Service:
        keyring = folder / f"{service}-vault.json"
        if not keyring.exists():
            Vault.write(keyring, Vault.new_keyring())
        public_keys[str(service)] = [ensure_key(folder / f"{service}.events.pem")]
        # from the kept passwords each time: one deleted from them is made anew (rotation)
        url = with_credentials(redis_url, service, passwords[service])
        write_private(folder / f"{service}-redis-url", url)
        password = _kept(folder / f"{service}-postgres-password", generate_password())
        host = database_host.format(service=service)
        database = f"postgresql+asyncpg://{service}:{password}@{host}/{service}"
        _kept(folder / f"{service}-database-url", database)
    (folder / "event-public-keys.json").write_text(json.dumps(public_keys) + "\n")
    write_private(folder / "monitor-redis-password", passwords[MONITOR])  # KEDA, redis_exporter
    say(f"secrets in {folder} (owner-only): keyrings, event-signing keys, Redis ACL file and "
        "URLs, database passwords and URLs; store them as the deployment's secrets")  # fmt: skip


def _kept(path: Path, new: str) -> str:
    """The file's content, ``new`` written first if there is none."""
    if not path.exists():
        write_private(path, new)
    return path.read_text().strip()
