"""``make bench`` at smoke size: it runs through on both databases and prints every figure with
its baseline. Never a timing: the figures are for docs/performance.md, measured at full size."""

import math

import pytest

from bench.figures import table
from bench.run import PARTS, Run, Size


@pytest.mark.timeout(1200)  # a safety net: a run that waits this long has hung
def test_every_figure_is_measured_with_its_baseline(
    database_kind: tuple[str, str | None],
) -> None:
    database, server = database_kind
    said: list[str] = []
    figures = Run(database, Size.named("smoke"), said.append, server).figures(PARTS)

    names = [f.name for f in figures]
    expected = ["intake reports/s", "intake POST p50", "intake POST p99",
                "intake sustained reports/s", "pipeline backlog after the steady run",
                "202 → stats reflects it p50", "202 → stats reflects it p95",
                "202 → stats reflects it p99", "pipeline events/s draining",
                *(f"stats form p95, {area} {period}, {cases} cases"
                  for area in ("national", "province", "commune") for period in ("quarter", "year")
                  for cases in ("300", "1,000")),
                "stats form p50 at 1,000 cases against 300", "rebuild events/s",
                *(f"{service} RSS" for service in ("intake", "verification", "support", "notify",
                                                   "stats"))]  # fmt: skip
    if database == "postgresql":
        expected += ["intake reports/s, 2 replicas", "pipeline events/s, 2 replicas"]
    for prefix in expected:
        assert any(name.startswith(prefix) for name in names), (prefix, names, said)
    for figure in figures:
        assert math.isfinite(figure.value), figure
        assert figure.value >= 0, figure
        assert database in figure.name
        if figure.baseline is not None:
            assert figure.baseline > 0, figure  # measured, in this run
    printed = table(figures)
    assert all(f"| {name} |" in printed for name in names)
