"""deploy/compose: Compose itself accepts the file (Debian's ``docker-compose config``, which
needs no engine), and the stack it describes is the one the platform needs — every service and
its database, two replicas of each consumer, the migrations before them, each service given
exactly its own secrets, and every secret one that ``safereturn secrets init`` makes."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from safereturn import secrets_folder
from shared.names import HTTP_PORTS, Service

COMPOSE = Path(__file__).parents[2] / "deploy" / "compose"
CONSUMERS = (Service.VERIFICATION, Service.SUPPORT, Service.NOTIFY, Service.STATS)


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """The file as Compose reads it (anchors, merges and defaults resolved)."""
    compose = shutil.which("docker-compose")
    assert compose, "make test installs Debian's docker-compose"
    read = subprocess.run([compose, "-f", str(COMPOSE / "compose.yaml"), "config"],
                          check=False, capture_output=True, text=True)  # fmt: skip
    assert read.returncode == 0, read.stderr
    document: dict[str, Any] = yaml.safe_load(read.stdout)
    return document


def test_the_stack_has_every_part(stack: dict[str, Any]) -> None:
    expected = {"redis", "migrate", "edge", "otel-collector", "prometheus", "grafana",
                *Service, *(f"postgres-{s}" for s in Service)}  # fmt: skip
    assert set(stack["services"]) == expected


def test_services_run_two_replicas_after_the_migrations(stack: dict[str, Any]) -> None:
    for service in Service:
        declared = stack["services"][service]
        assert declared["deploy"]["replicas"] == 2, service
        assert declared["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert declared["environment"]["SAFERETURN_HTTP_PORT"] == str(HTTP_PORTS[service])
        assert declared["command"] == ["python", "-m", f"services.{service}"]


def test_each_service_gets_its_own_secrets_only(stack: dict[str, Any]) -> None:
    for service in Service:
        mounted = {s["source"]: s.get("target", s["source"])
                   for s in stack["services"][service]["secrets"]}  # fmt: skip
        own = {f"{service}-redis-url", f"{service}-database-url", f"{service}-vault.json",
               f"{service}.events.pem"}  # fmt: skip
        assert set(mounted) == own | {"event-public-keys.json"}, service
        assert mounted[f"{service}-redis-url"] == "SAFERETURN_REDIS_URL"
        assert mounted[f"{service}-database-url"] == "SAFERETURN_DATABASE_URL"
        assert mounted["event-public-keys.json"] == "SAFERETURN_EVENT_PUBLIC_KEYS"


def test_every_secret_is_one_that_secrets_init_makes(stack: dict[str, Any], tmp_path: Path) -> None:
    secrets_folder.init(lambda _: None, tmp_path, redis_url="redis://redis:6379/0", redis72=True)
    made = {path.name for path in tmp_path.iterdir()}
    files = {Path(s["file"]).name for s in stack["secrets"].values()}
    assert files <= made, files - made
    # the operator's, and KEDA's (Kubernetes): no container of the stack needs them
    assert made - files == {"redis-credentials.json", "monitor-redis-password"}


def test_prometheus_scrapes_every_service_on_its_port() -> None:
    config = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "safereturn"
    found = {c["names"][0]: c["port"] for c in job["dns_sd_configs"]}
    assert found == {str(s): port for s, port in HTTP_PORTS.items()}


def test_files_the_stack_mounts_exist(stack: dict[str, Any]) -> None:
    for name, service in stack["services"].items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), f"{name} mounts {source}"
