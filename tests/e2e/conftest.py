"""Service processes for end-to-end tests: each service as its own OS process."""

import asyncio
import functools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis as redis_py

from safereturn import admin, redis_access
from shared.names import Service
from shared.redis_acl import generate_password, is_redis72, platform_users
from shared.redis_server import free_port, free_ports

STARTUP_TIMEOUT_S = 60.0


def ready_as(url: str, service: str) -> bool:
    """Whether ``service`` itself answers ready there (not another process on a shared port)."""
    try:
        answer = httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.json().get("service") == service


class Services:
    """Started service processes and their base URLs, and API clients to call them with."""

    def __init__(self, env: dict[str, str], logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.env = env
        self.logs = logs
        self.monkeypatch = monkeypatch
        self.urls: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.issued: list[tuple[str, str]] = []

    def start(self, *names: str) -> None:
        for name, port in zip(names, free_ports(len(names)), strict=True):
            self.env[f"SAFERETURN_{name.upper()}_HTTP_PORT"] = str(port)
            self.urls[name] = f"http://127.0.0.1:{port}"
        for key, value in self.env.items():  # the tests' own admin calls see the same settings
            if key.startswith("SAFERETURN_"):
                self.monkeypatch.setenv(key, value)
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

    def start_replica(self, name: str) -> subprocess.Popen[bytes]:
        """Another process of an already started service: same database, same group."""
        port = free_port()
        env = self.env | {f"SAFERETURN_{name.upper()}_HTTP_PORT": str(port),
                          "SAFERETURN_CONSUMER_NAME": f"{name}@replica-{port}"}  # fmt: skip
        with (self.logs / f"{name}-replica.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"], env=env, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.processes[f"{name}-replica-{port}"] = process
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if ready_as(f"http://127.0.0.1:{port}/ready", name):
                return process
            time.sleep(0.1)
        pytest.fail(f"{name} replica not ready")

    def _wait_ready(self, name: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                pytest.fail(f"{name} exited:\n{self.log(name)}")
            if ready_as(f"{self.urls[name]}/ready", name):
                return
            time.sleep(0.1)
        pytest.fail(f"{name} not ready:\n{self.log(name)}")

    def new_client(
        self, role: str, province: str | None = None, ward: str | None = None,
        agency: str = "Test agency",
    ) -> tuple[str, str]:  # fmt: skip
        """A client made the way an operator makes one (``safereturn clients create``)."""
        create = admin.create_client(lambda _: None, agency, role, province, ward)
        with ThreadPoolExecutor(1) as pool:  # callable from sync and async tests alike
            credentials = pool.submit(asyncio.run, create).result()
        self.issued.append((credentials.client.client_id, credentials.secret))
        return credentials.client.client_id, credentials.secret

    def token_for(self, client_id: str, secret: str) -> str:
        response = httpx.post(
            f"{self.urls[Service.INTAKE]}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id,
                  "client_secret": secret},
            timeout=30,  # a secret's hash is slow by design; a busy machine makes it slower
        )  # fmt: skip
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def token(
        self, role: str, province: str | None = None, ward: str | None = None,
        agency: str = "Test agency",
    ) -> str:  # fmt: skip
        return self.token_for(*self.new_client(role, province, ward, agency))

    def auth(self, role: str = "admin", **area: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **area)}"}

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


@functools.cache
def _passwords() -> dict[str, str]:
    """One password per party for this test process (users are server-wide, and a fixture's
    services may still run while another fixture provisions the same users)."""
    return {user.name: generate_password() for user in platform_users()}


def service_env(redis_url: str, data_dir: Path) -> dict[str, str]:
    """Each service connects as its own ACL user and signs its events, as in production: the
    e2e suite proves the grants suffice. ``SAFERETURN_REDIS_URL`` stays the test's (default)
    user, for the tests' own checks."""
    redis72 = is_redis72(redis_access.version_of(redis_url))
    users = platform_users(redis72=redis72)
    redis_access.apply(redis_url, users, _passwords())
    access = redis_access.service_env(redis_url, _passwords(), data_dir, waitaof=redis72)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERETURN_")}
    return (
        env
        | access
        | {
            "SAFERETURN_REDIS_URL": redis_url,
            "SAFERETURN_DATA_DIR": str(data_dir),
            "SAFERETURN_RECLAIM_IDLE_MS": "1000",
            "SAFERETURN_MAINTENANCE_INTERVAL_S": "0.5",
            "SAFERETURN_LOG_LEVEL": "INFO",
            "SAFERETURN_EMBEDDED": "true",  # one machine: intake's keys are found on loopback
            "SAFERETURN_NOTIFY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",  # local receivers
        }
    )


@pytest.fixture
def services(
    redis_url: str, redis: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Services]:
    """Starts service processes on the test Redis (flushed) and stops them afterwards."""
    started = Services(service_env(redis_url, tmp_path), tmp_path, monkeypatch)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def platform(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """All five services for a whole test module, on their own Redis database (index 1)."""
    own_redis = redis_url.rsplit("/", 1)[0] + "/1"
    flush = redis_py.Redis.from_url(own_redis)
    flush.flushdb()
    flush.close()
    data_dir = tmp_path_factory.mktemp("platform")
    with pytest.MonkeyPatch.context() as monkeypatch:
        started = Services(service_env(own_redis, data_dir), data_dir, monkeypatch)
        started.env["SAFERETURN_REVOCATION_REFRESH_S"] = "0.5"
        started.env["SAFERETURN_MAINTENANCE_INTERVAL_S"] = "0.5"
        try:
            started.start(*Service)
            yield started
        finally:
            started.stop()
