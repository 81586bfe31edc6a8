"""``safereturn demo``: the README's first command, end to end, with its own redis-server."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from safereturn import demo_cases
from safereturn.observability.dashboards import dashboards
from safereturn.observability.prometheus import Prometheus
from shared.names import Service
from shared.redis_server import free_port


def demo_env() -> dict[str, str]:
    """The environment for a demo on free ports, with no Redis there yet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERETURN_")}
    env["SAFERETURN_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    for name in Service:
        env[f"SAFERETURN_{name.upper()}_HTTP_PORT"] = str(free_port())
    return env


def run_demo(data_dir: Path, env: dict[str, str], timeout: float = 110) -> str:
    command = [sys.executable, "-m", "safereturn", "demo", "--exit", "--data-dir", str(data_dir)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()  # as Ctrl-C: the launcher stops its services and Redis
        out, _ = process.communicate(timeout=60)
        pytest.fail(f"the demo took longer than {timeout:.0f} s:\n{out}")
    assert process.returncode == 0, out
    return out


@dataclass
class ObservedRun:
    """A demo run with ``--observability``: what it printed until it stopped on Ctrl-C, and
    what its Prometheus answered meanwhile."""

    out: str = ""
    returncode: int | None = None
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Each dashboard query and alert expression (as sent) → its series."""
    exported: set[str] = field(default_factory=set)
    """Every metric name Prometheus scraped from the platform."""
    rules: list[dict[str, Any]] = field(default_factory=list)


PAGING = 'ALERTS{alertstate="firing", severity="page"}'
PROMETHEUS = shutil.which("prometheus")


def expressions() -> dict[str, str]:
    """Every dashboard panel's query (Grafana's variables given values), where it is from."""
    found = {}
    for dashboard in dashboards():
        for title, expr in dashboard.queries():
            sent = expr.replace("$__rate_interval", "30s").replace("$__range", "1h")
            found[sent] = f"{dashboard.uid}: {title}"
    return found


def ask(prometheus: Prometheus, run: ObservedRun) -> bool:
    """Ask every dashboard query and alert expression once; whether every one has series."""
    run.rules = prometheus.rules()
    run.exported = prometheus.metric_names()
    asked = [*expressions(), *(rule["query"] for rule in run.rules), PAGING]
    run.answers = {expr: prometheus.query(expr) for expr in asked}
    return all(run.answers[expr] for expr in expressions())


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> tuple[ObservedRun, Path]:
    """``safereturn demo --observability`` played to the end; once the platform runs on, its
    Prometheus is asked every query (until all answer or 60 s pass); then Ctrl-C."""
    data_dir = tmp_path_factory.mktemp("demo")
    env = demo_env() | {"SAFERETURN_PROMETHEUS_PORT": str(free_port())}
    command = [sys.executable, "-m", "safereturn", "demo", "--data-dir", str(data_dir),
               *(["--observability"] if PROMETHEUS else [])]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)  # fmt: skip
    assert process.stdout is not None
    run, lines = ObservedRun(), []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 200
        while not any(line.startswith("Platform running.") for line in lines[-3:]):
            assert process.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.5)
        if url := re.search(r"^  prometheus +(http://\S+)", "".join(lines), re.M):
            prometheus, deadline = Prometheus(url[1]), time.monotonic() + 60
            while not ask(prometheus, run) and time.monotonic() < deadline:
                time.sleep(2)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            run.returncode = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(10)
        process.stdout.close()
        run.out = "".join(lines)
    return run, data_dir


@pytest.mark.timeout(300)  # the module's demo run, before the checks
def test_the_demo_brings_up_the_platform_and_plays_the_scenario(
    observed: tuple[ObservedRun, Path],
) -> None:
    run, data_dir = observed
    assert run.returncode == 0, run.out
    assert_the_story(run.out, data_dir)
    assert run.out.rstrip().endswith("Stopped.")


@pytest.mark.timeout(300)
def test_the_demos_logs_are_json_without_personal_data(observed: tuple[ObservedRun, Path]) -> None:
    assert_the_logs_are_json_without_personal_data(observed[1] / "logs")


@pytest.mark.timeout(300)
def test_every_dashboard_query_and_alert_answers_from_the_platforms_metrics(
    observed: tuple[ObservedRun, Path],
) -> None:
    """Proof, not hope: after the scenario, Prometheus (scraping every service, the alert rules
    loaded) answers every panel query of every dashboard with series, every alert expression
    evaluates, every metric any of them names is one the platform exports, and only what went
    wrong pages."""
    if PROMETHEUS is None:
        pytest.skip("Debian's prometheus is not installed: make prometheus")
    run, _ = observed
    assert "  prometheus    http://" in run.out, run.out
    assert len(run.rules) >= 9
    assert {rule["health"] for rule in run.rules} == {"ok"}, run.rules
    silent = {where for expr, where in expressions().items() if not run.answers.get(expr)}
    assert not silent, f"panels with no series: {sorted(silent)}"
    for expr in [*expressions(), *(rule["query"] for rule in run.rules)]:
        missing = metrics_named(expr) - run.exported
        assert not missing, f"{expr} names {missing}, which the platform does not export"
    # The demo has forged events dead-lettered (step 10): that pages, and nothing else does.
    firing = {alert["metric"]["alertname"] for alert in run.answers[PAGING]}
    assert firing == {"SafeReturnDeadLetters"}, run.answers[PAGING]


PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
                "and", "or", "unless", "inf", "nan"}  # fmt: skip


def metrics_named(expr: str) -> set[str]:
    """The metric names in a PromQL expression: its identifiers less label matchers, grouping
    labels, functions and keywords."""
    bare = re.sub(r'"[^"]*"', "", expr)  # strings
    bare = re.sub(r"\{[^}]*\}", "", bare)  # label matchers
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # ranges
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", bare))
    return {name for name in names if name.lower() not in PROMQL_WORDS}


PERSONAL_FIELDS = ("full_name", "id_number", "phone")


def personal_data(value: Any) -> Iterator[str]:
    """The names, ID numbers and phones in the demo's reports, as patterns (an ID number's
    ``{serial}`` is a run of digits)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in PERSONAL_FIELDS and isinstance(inner, str):
                yield re.escape(inner).replace(re.escape("{serial}"), r"\d+")
            else:
                yield from personal_data(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from personal_data(inner)


def assert_the_logs_are_json_without_personal_data(logs: Path) -> None:
    """Every line of every service's log is JSON with the collector's fields; the lines about
    work carry its trace; nothing the demo reported about a person is in any of them."""
    patterns = sorted(set(personal_data([demo_cases.REPORTS, demo_cases.HANDOVER])))
    assert len(patterns) >= 5, patterns  # two names of one report, its ID number and phone, …
    traced = 0
    for name in Service:
        text = (logs / f"{name}.log").read_text()
        for line in text.splitlines():
            record = json.loads(line)
            assert {"time", "level", "service", "logger", "message"} <= record.keys(), line
            traced += bool(record.get("trace_id"))
        for pattern in patterns:
            assert not re.search(pattern, text), f"{name}'s log holds {pattern}"
    assert traced, "no log line carries a trace id"


def assert_the_story(out: str, tmp_path: Path) -> None:
    """Every step of the scenario, as a newcomer sees it, on the platform the demo started."""
    assert_the_scenario(out, tmp_path)
    for name in Service:  # the launcher's list of what it started
        assert f"  {name}" in out
    assert "ACLs on, a user per party" in out
    assert (tmp_path / "redis" / "redis.log").exists()  # it started its own redis-server
    for name in Service:
        assert (tmp_path / f"{name}.db").exists()


def assert_the_scenario(out: str, tmp_path: Path) -> None:
    """Every step of the scenario and its exact results, on whatever platform it played."""
    assert out.count("(same trace)") == 3
    assert "OTHER TRACE" not in out
    assert "stats         recorded it" in out
    assert "round trip through all five services" in out
    assert "→ decodes as CloudEvent platform.probe." in out
    assert out.count("→ case ") == 2
    assert "the same report again → 200" in out
    assert "outside the reporter's province → 403 (area.province: out_of_area)" in out
    assert "case.received reached verification, support, notify, stats" in out
    assert "refused onto safereturn:{submissions}:rejected: received_at: is in the future" in out
    assert "→ decodes as CloudEvent case.received" in out
    assert "decisions: victim (200), not_victim (200)" in out
    assert "verification.overdue, escalated to the province" in out
    # a calendar-day limit ending on a weekend rolls past Tết and the weekends (Civil Code 148)
    assert "a report received Thu 2026-02-12, just before Tết: 3 calendar days" in out
    assert "end on Sun 2026-02-15 → roll past the weekends and Tết" in out
    assert "due Mon 2026-02-23 (Civil Code 2015 Art. 148(5))" in out
    assert "protection ordered for the victim and 2 relatives → 201" in out
    for service in ("support", "notify", "stats"):
        assert f"  {service} sees the case as identified" in out
    assert out.count("    granted ") == 8
    # Issue 14: a province's rate from its resolution's start, the national rules before it
    assert re.search(r"granted road_meals x 2 +140,000 VND .*Thông tư 84/2019/TT-BTC", out)
    assert re.search(r"granted road_meals x 2 +200,000 VND .*Nghị quyết 15/2020/NQ-HĐND", out)
    assert ("REFUSED hardship_allowance x 1   group.foreign_victim: Nghị định 09/2013/NĐ-CP, "
            "Điều 23: a foreign victim does not receive hardship_allowance") in out  # fmt: skip
    assert "REFUSED hardship_allowance x 1   group.being_identified" in out
    assert "REFUSED shelter_meals x 70       cap.exceeded: at most 61 days left" in out
    assert "the second officer approves → approved" in out
    assert "from donor:IOM Việt Nam" in out
    assert "from state_budget" in out
    assert "ledger: 6,450,000 VND disbursed" in out
    assert "(child_protection): support.referred → provider accepted" in out
    assert "agencies in the directory" in out
    assert "test ping delivered: True" in out
    assert "congan.muongphang@example.gov.vn     Tiếp nhận trường hợp mới x3" in out
    assert "ctxh.dienbien@example.gov.vn" in out  # child protection: a child, and a referral
    assert re.search(r"the integrator's endpoint: \d+ signed events, every signature verified", out)
    assert re.search(r"    I\.1 +Tổng số người được tiếp nhận, xác minh +4 Người", out)
    assert "/dashboard?province=11" in out
    assert list(tmp_path.glob("bieu-so-lieu-*-03325.xlsx"))
    assert "Lò Thị Mai" not in out  # the demo's reported names never show up in the output
    assert out.count("audit chain intact") == 5
    # Redis is a boundary: NOPERM for what a party may not do, a forged event refused.
    assert re.search(r"an agency system \(user submitter\) publishes case\.identified on the "
                     r"cases stream: .*no permissions", out)  # fmt: skip
    assert re.search(r"… reads other agencies' submissions: .*no permissions", out)
    assert re.search(r"… deletes the revocation list: .*no permissions", out)
    assert re.search(r"stats \(user stats\) publishes on the cases stream: .*no permissions", out)
    refusals = re.findall(r"dead-lettered it: ForgedEvent: case\.identified from "
                          r"/safereturn/verification is not signed", out)  # fmt: skip
    assert len(refusals) >= 4, out  # every group that follows case.identified refused it
    assert "nobody applied it: the case is not identified" in out


@pytest.mark.timeout(320)  # two demos in a row: well over the 120 s of one test
def test_the_demo_runs_again_in_the_same_folder_and_tells_the_same_story(tmp_path: Path) -> None:
    """A newcomer stops the demo and runs it again: its data is there, the story is the same."""
    env = demo_env()
    first = run_demo(tmp_path, env, timeout=140)
    again = run_demo(tmp_path, env, timeout=140)
    assert_the_story(again, tmp_path)
    assert "12 of them added by an earlier run" in again
    assert re.search(
        r"ledger: 6,450,000 VND disbursed \(.*\); 12,900,000 VND with earlier runs", again
    )
    budgets = re.compile(r"budget .* left")
    assert budgets.findall(again) == budgets.findall(first)  # this run's figures, as before
    assert "in the form with earlier runs" in again
