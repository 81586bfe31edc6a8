"""A figure beside its baseline, measured in the same run on the same machine, and the ratio
between them; and the table they are printed in. A target is shown, never asserted: the
machines are shared and noisy, and the figures are for people to read (docs/performance.md)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """``value`` against ``baseline``; ``higher_is_better`` says which way the ratio reads."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None  # whether the target is met, where it can be told

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)])


def number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def row(f: Figure) -> str:
    """The figure as a row of the table."""
    baseline = f"{number(f.baseline)} {f.unit} ({f.baseline_name})" if f.baseline else "—"
    ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "—"
    verdict = {True: " ✓", False: " ✗", None: ""}[f.met]
    target = f"{f.target}{verdict}" if f.target else "—"
    return f"| {f.name} | {number(f.value)} {f.unit} | {baseline} | {ratio} | {target} |"


def table(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table (docs/performance.md takes it as printed)."""
    lines = ["| figure | value | baseline | ratio | target |", "|---|---:|---|---:|---|"]
    return "\n".join([*lines, *map(row, figures)])
