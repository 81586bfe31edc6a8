"""Embedded mode keeps its data readable by its owner only: the data folder and every folder
in it 0700, every file 0600 (SQLite databases and their WAL, key files, Redis's AOF, logs)."""

import os
import stat
from pathlib import Path

import pytest

from safereturn.embedded import EmbeddedPlatform
from shared.names import Service
from shared.redis_server import free_port


def too_open(root: Path) -> list[str]:
    """Everything under ``root`` (itself included) that anyone but its owner may read."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {mode:o}")
    return found


def test_embedded_mode_creates_files_and_folders_its_owner_alone_may_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("SAFERETURN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SAFERETURN_STATS_HTTP_PORT", str(free_port()))
    previous = os.umask(0o022)  # a usual login umask: the platform must not rely on a strict one
    data_dir = tmp_path / "data"
    platform = EmbeddedPlatform(
        data_dir, f"redis://127.0.0.1:{free_port()}/0", say=lambda _: None,
        names=(Service.STATS,),
    )  # fmt: skip
    try:
        platform.start()  # the service migrates its SQLite database, makes its keyring
    finally:
        platform.stop()
        os.umask(previous)
    made = {p.name for p in data_dir.rglob("*")}
    assert {"stats.db", "stats-vault.json", "redis", "appendonlydir", "logs"} <= made, made
    assert too_open(data_dir) == []
