"""Service processes for end-to-end tests: each service as its own OS process."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.redis_server import free_port

STARTUP_TIMEOUT_S = 60.0


class Services:
    """Started service processes and their base URLs."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.urls: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, *names: str) -> None:
        for name in names:
            port = free_port()
            self.env[f"SAFERETURN_{name.upper()}_HTTP_PORT"] = str(port)
            self.urls[name] = f"http://127.0.0.1:{port}"
        for name in names:
            with (self.logs / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", f"services.{name}"],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        for name in names:
            self._wait_ready(name)

    def _wait_ready(self, name: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                pytest.fail(f"{name} exited:\n{self.log(name)}")
            try:
                if httpx.get(f"{self.urls[name]}/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail(f"{name} not ready:\n{self.log(name)}")

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def service_env(redis_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERETURN_")}
    return env | {
        "SAFERETURN_REDIS_URL": redis_url,
        "SAFERETURN_DATA_DIR": str(data_dir),
        "SAFERETURN_RECLAIM_IDLE_MS": "1000",
        "SAFERETURN_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def services(redis_url: str, redis: object, tmp_path: Path) -> Iterator[Services]:
    """Starts service processes on the test Redis (flushed) and stops them afterwards."""
    started = Services(service_env(redis_url, tmp_path), tmp_path)
    yield started
    started.stop()
