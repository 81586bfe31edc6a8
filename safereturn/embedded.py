"""Embedded run mode: a local redis-server, every service as its own process, SQLite files.

Everything lives under one data folder: ``redis/`` (AOF), ``<service>.db`` and ``logs/``.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import httpx
import redis

from shared.names import Service
from shared.redis_server import RedisServer, answers, find_redis_server
from shared.settings import settings_for

SERVICES = tuple(Service)
READY_TIMEOUT_S = 60.0


class LaunchError(RuntimeError):
    """The platform could not be brought up; the message says which part and where to look."""


@dataclass
class ServiceProcess:
    name: str
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class EmbeddedPlatform:
    """The whole platform on this machine, started and stopped as one."""

    data_dir: Path
    redis_url: str
    redis_server: RedisServer | None = None
    services: list[ServiceProcess] = field(default_factory=list)

    @property
    def redis_description(self) -> str:
        client = redis.Redis.from_url(self.redis_url)
        try:
            version = client.info("server")["redis_version"]
        finally:
            client.close()
        origin = self.redis_server.binary if self.redis_server else "already running"
        return f"{self.redis_url} (Redis {version}, {origin})"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._start_redis()
        env = os.environ | {
            "SAFERETURN_DATA_DIR": str(self.data_dir),
            "SAFERETURN_REDIS_URL": self.redis_url,
        }
        logs = self.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        for name in SERVICES:
            settings = settings_for(name)
            log = logs / f"{name}.log"
            with log.open("ab") as out:
                process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                    [sys.executable, "-m", f"services.{name}"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            url = f"http://{settings.http_host}:{settings.port}"
            self.services.append(ServiceProcess(name, url, log, process))
        self._wait_until_ready()

    def _start_redis(self) -> None:
        if answers(self.redis_url):
            return
        url = urlsplit(self.redis_url)
        if url.hostname not in {"127.0.0.1", "localhost"}:
            raise LaunchError(f"no Redis answers at {self.redis_url}")
        self.redis_server = RedisServer(
            self.data_dir / "redis", url.port or 6379, find_redis_server()
        )
        self.redis_server.start()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        waiting = list(self.services)
        with httpx.Client(timeout=1.0) as client:
            while waiting:
                for service in list(waiting):
                    if service.process.poll() is not None:
                        raise LaunchError(
                            f"{service.name} exited with {service.process.returncode}; "
                            f"last lines of {service.log}:\n{service.log_tail()}"
                        )
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{service.url}/ready").status_code == 200:
                            waiting.remove(service)
                if time.monotonic() > deadline:
                    names = ", ".join(s.name for s in waiting)
                    raise LaunchError(f"not ready after {READY_TIMEOUT_S:.0f}s: {names}")
                time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every service (they finish their batch and close), then Redis."""
        for service in self.services:
            if service.process.poll() is None:
                service.process.terminate()
        deadline = time.monotonic() + timeout
        for service in self.services:
            try:
                service.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
        self.services.clear()
        if self.redis_server is not None:
            self.redis_server.stop()


@contextlib.contextmanager
def running(data_dir: Path, redis_url: str) -> Iterator[EmbeddedPlatform]:
    platform = EmbeddedPlatform(data_dir, redis_url)
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()


def wait_for_signal() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
