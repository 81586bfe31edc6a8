"""Grafana dashboards as data: panels laid out left to right in rows, every query on the
platform's Prometheus datasource (provisioned under ``deploy/observability/grafana``)."""

from dataclasses import dataclass, field
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "safereturn-prometheus"}
"""The datasource every panel asks; its provisioning file gives it this uid."""
WIDTH = 24  # Grafana's grid
HEIGHT = 8


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """A panel: ``kind`` is Grafana's panel type (timeseries, stat, bargauge, table)."""

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    stacked: bool = False
    thresholds: tuple[float, ...] = ()
    """Values from which the panel turns orange, then red."""


def panel(title: str, description: str, *queries: Query | str, **options: Any) -> Panel:
    """A panel whose queries may be given as bare expressions (no legend)."""
    found = tuple(q if isinstance(q, Query) else Query(q) for q in queries)
    return Panel(title, description, found, **options)


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    tags: tuple[str, ...] = field(default=("safereturn",))

    def queries(self) -> list[tuple[str, str]]:
        """(panel title, expression) of every query of every panel."""
        return [(p.title, q.expr) for row in self.rows for p in row.panels for q in p.queries]

    def to_json(self) -> dict[str, Any]:
        """The dashboard as Grafana's JSON model."""
        panels: list[dict[str, Any]] = []
        y = 0
        for row in self.rows:
            at = {"h": 1, "w": WIDTH, "x": 0, "y": y}
            panels.append({"type": "row", "title": row.title, "collapsed": False, "panels": [],
                           "id": len(panels) + 1, "gridPos": at})  # fmt: skip
            y += 1
            x = 0
            for item in row.panels:
                if x + item.width > WIDTH:
                    x, y = 0, y + HEIGHT
                panels.append(_panel(item, len(panels) + 1, x, y))
                x += item.width
            y += HEIGHT
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "timezone": "browser",
            "schemaVersion": 39,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,  # a shared crosshair across panels
            "time": {"from": "now-6h", "to": "now"},
            "refresh": "30s",
            "templating": {"list": []},
            "annotations": {"list": []},
            "links": [
                {
                    "title": "SafeReturn",
                    "type": "dashboards",
                    "tags": ["safereturn"],
                    "asDropdown": True,
                }
            ],
            "panels": panels,
        }


def _panel(item: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    for color, value in zip(("orange", "red"), item.thresholds, strict=False):
        steps.append({"color": color, "value": value})
    defaults: dict[str, Any] = {
        "unit": item.unit,
        "thresholds": {"mode": "absolute", "steps": steps},
    }
    if item.kind == "timeseries":
        stacking = {"mode": "normal" if item.stacked else "none"}
        defaults["custom"] = {"fillOpacity": 20 if item.stacked else 5, "stacking": stacking}
    options: dict[str, Any] = {"legend": {"displayMode": "table", "placement": "right",
                                          "calcs": ["lastNotNull", "max"]},
                               "tooltip": {"mode": "multi"}}  # fmt: skip
    if item.kind in ("stat", "bargauge"):
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "orientation": "horizontal"}  # fmt: skip
    return {
        "id": panel_id,
        "type": item.kind,
        "title": item.title,
        "description": item.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": HEIGHT, "w": item.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": q.expr,
                "legendFormat": q.legend or "__auto",
                "range": item.kind == "timeseries",
                "instant": item.kind != "timeseries",
            }
            for i, q in enumerate(item.queries)
        ],
    }
