"""``safereturn secrets init``: every secret a deployment mounts, owner-only, made once — a
second run keeps every one (a new keyring would leave every sealed value unreadable)."""

import json
import stat
from pathlib import Path

from safereturn.cli import main
from shared.names import Service
from shared.vault import Vault


def contents(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.iterdir())}


def test_secrets_are_made_once_owner_only_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    assert main(["secrets", "init", str(folder), "--redis-url", "redis://redis:6379/0"]) == 0
    first = contents(folder)
    assert main(["secrets", "init", str(folder), "--redis-url", "redis://redis:6379/0"]) == 0
    assert contents(folder) == first
    for path in folder.iterdir():
        if path.name != "event-public-keys.json":  # public keys, read by every service
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    public = json.loads(first["event-public-keys.json"])
    assert set(public) == set(Service)
    for service in Service:
        Vault.load(folder / f"{service}-vault.json", create=False)
        password = first[f"{service}-postgres-password"]
        assert first[f"{service}-database-url"] == (
            f"postgresql+asyncpg://{service}:{password}@postgres-{service}/{service}"
        )
        assert first[f"{service}-redis-url"].startswith(f"redis://{service}:")
        assert f"user {service} on" in first["users.acl"]
    assert "user default off" in first["users.acl"]


def test_a_redis_password_deleted_from_the_credentials_is_made_anew(tmp_path: Path) -> None:
    """Rotating a service's Redis password (deploy/README.md, "Keys and their rotation")."""
    init = ["secrets", "init", str(tmp_path), "--redis-url", "redis://redis:6379/0"]
    assert main(init) == 0
    before = contents(tmp_path)
    credentials = tmp_path / "redis-credentials.json"
    passwords = json.loads(credentials.read_text())
    del passwords["stats"]
    credentials.write_text(json.dumps(passwords))
    assert main(init) == 0
    after = contents(tmp_path)
    assert after["stats-redis-url"] != before["stats-redis-url"]
    assert after["users.acl"] != before["users.acl"]
    assert after["intake-redis-url"] == before["intake-redis-url"]
    assert after["stats-vault.json"] == before["stats-vault.json"]
