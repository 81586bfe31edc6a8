"""The operators' alert rules (deploy/observability/prometheus): Prometheus accepts them, and
each alert fires when its unit test says and not before (``promtool test rules``)."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES = Path(__file__).parents[2] / "deploy" / "observability" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="Debian's prometheus (promtool) is not installed: make prometheus"
)


def alerts() -> list[str]:
    groups = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"]]


@needs_promtool
def test_prometheus_accepts_the_rules() -> None:
    checked = subprocess.run([PROMTOOL, "check", "rules", "alerts.yml"], cwd=RULES,
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_promtool
def test_every_alert_fires_when_its_unit_test_says() -> None:
    tested = subprocess.run([PROMTOOL, "test", "rules", "alerts.test.yml"], cwd=RULES,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test_that_sees_it_fire() -> None:
    tests = yaml.safe_load((RULES / "alerts.test.yml").read_text())["tests"]
    fired = {check["alertname"] for test in tests for check in test["alert_rule_test"]
             if check.get("exp_alerts")}  # fmt: skip
    assert set(alerts()) == fired
