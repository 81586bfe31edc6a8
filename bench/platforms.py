"""What the benchmarks run against: the platform as production runs it (tests.local_platform:
each service its own process, real Redis 7, SQLite files or PostgreSQL), and the bare endpoint
on the same database kind; their clients' tokens; their processes' memory."""

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from shared.names import Service
from shared.redis_server import free_port
from tests.local_platform import Platform, environment, make_client, running


@contextlib.contextmanager
def platform(
    kind: str, folder: Path, postgres: str | None, replicas: Mapping[Service, int] | None = None
) -> Iterator[Platform]:
    """The platform started in ``folder`` (its own ports), and its settings in this process
    (making clients, reading databases) until it stops."""
    with running(kind, folder, postgres, replicas or {}) as started, environment(started.env):
        yield started


def token(started: Platform, role: str, province: str | None = None) -> str:
    """A bearer token for a new client of ``role``, as an agency system gets one."""
    client_id, secret = make_client(role, province)
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    answer = httpx.post(f"{started.urls(Service.INTAKE)[0]}/oauth/token", data=form, timeout=30)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@contextlib.contextmanager
def bare_endpoint(database_url: str, folder: Path) -> Iterator[tuple[str, int]]:
    """The bare endpoint serving on loopback: its URL and its process id."""
    port = free_port()
    with (folder / "bare.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.bare", database_url, str(port)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, process)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(15)


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bare endpoint exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/docs", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the bare endpoint did not answer")


def rss_mb(pid: int) -> float:
    """A process's resident memory now, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
