"""Files and folders only their owner may read: embedded mode's data (databases, key files,
Redis's append-only file, logs) hold personal data and secrets."""

import os
from pathlib import Path

UMASK = 0o077
"""For processes the platform starts: whatever they create, only the owner may read."""


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents made; ``path`` itself 0700 (also if it existed)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty if missing; 0600 either way (its content is left as it is)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (its folder made 0700), readable by its owner only."""
    private_dir(path.parent)
    private_file(path).write_text(text)
