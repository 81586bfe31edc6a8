"""Debian's Prometheus scraping a running platform, each target labelled with its service,
the operators' alert rules loaded; asked through its HTTP API. ``safereturn up
--observability`` runs it beside the platform; the operators' proof test asks it every panel
query and alert expression."""

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from safereturn.observability import DEPLOY

RULES = DEPLOY / "prometheus" / "alerts.yml"
JOB = "safereturn"
"""The scrape job of the platform's services; the alert rules and dashboards select by it."""


class PrometheusError(RuntimeError):
    """Prometheus could not be started or answered an error; the message says why."""


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def _get(self, path: str, **params: str) -> Any:
        body = httpx.get(f"{self.url}{path}", params=params, timeout=10).json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The expression's series now; an error in the expression raises."""
        result: list[dict[str, Any]] = self._get("/api/v1/query", query=expr)["result"]
        return result

    def metric_names(self) -> set[str]:
        """Every metric name Prometheus holds a sample of."""
        return set(self._get("/api/v1/label/__name__/values"))

    def rules(self) -> list[dict[str, Any]]:
        groups = self._get("/api/v1/rules")["groups"]
        return [rule for group in groups for rule in group["rules"]]


def binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusError("Debian's prometheus is not installed: `make prometheus` (as root)")
    return found


def config(targets: Mapping[str, str], scrape_interval: str) -> dict[str, Any]:
    """Prometheus's configuration: ``targets`` is service name → base URL."""
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(RULES)],
        "scrape_configs": [{
            "job_name": JOB,
            "static_configs": [{"targets": [url.split("://", 1)[1]], "labels": {"service": name}}
                               for name, url in targets.items()],
        }],
    }  # fmt: skip


@contextlib.contextmanager
def running(
    targets: Mapping[str, str], folder: Path, port: int, *, scrape_interval: str = "5s"
) -> Iterator[Prometheus]:
    """Prometheus on ``127.0.0.1:port`` scraping ``targets``, its data and log in ``folder``;
    stopped on leaving."""
    folder.mkdir(parents=True, exist_ok=True)
    configured = json.dumps(config(targets, scrape_interval), indent=2)  # JSON is YAML
    (folder / "prometheus.yml").write_text(configured)
    log_file = folder / "prometheus.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own arguments)
            [binary(), f"--config.file={folder / 'prometheus.yml'}",
             f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _ready(url):
            if process.poll() is not None:
                raise PrometheusError(f"prometheus exited ({process.returncode}); see {log_file}")
            if time.monotonic() > deadline:
                raise PrometheusError(f"prometheus not ready in 30 s; see {log_file}")
            time.sleep(0.2)
        yield Prometheus(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    return False
