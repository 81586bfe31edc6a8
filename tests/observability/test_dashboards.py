"""The operators' Grafana dashboards (deploy/observability/grafana): the files are what
``make dashboards`` makes, Grafana's provisioning finds them and their datasource, and each
question the operators ask has its dashboard. That every query answers from the running
platform is proven in tests/e2e/test_demo.py."""

import json

import yaml

from safereturn.observability import DEPLOY
from safereturn.observability.dashboards import FOLDER, dashboards, rendered
from safereturn.observability.grafana import DATASOURCE, WIDTH
from shared.names import Service

PROVISIONING = DEPLOY / "grafana" / "provisioning"


def test_the_committed_dashboards_are_what_make_dashboards_writes() -> None:
    made = {f"{dashboard.uid}.json": rendered(dashboard) for dashboard in dashboards()}
    committed = {path.name: path.read_text() for path in FOLDER.glob("*.json")}
    assert committed.keys() == made.keys(), "run `make dashboards`"
    for name, text in made.items():
        assert committed[name] == text, f"{name} differs from its definition: `make dashboards`"


def test_there_is_a_dashboard_for_each_question_and_each_service() -> None:
    titles = {dashboard.uid: dashboard.title for dashboard in dashboards()}
    themes = {"platform", "deadlines", "support-money", "notifications", *Service}
    expected = {f"safereturn-{theme}" for theme in themes}
    assert set(titles) == expected
    assert len(set(titles.values())) == len(titles)


def test_every_panel_asks_the_provisioned_datasource_and_fits_the_grid() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "safereturn.yml").read_text())
    (datasource,) = provisioned["datasources"]
    assert (datasource["type"], datasource["uid"]) == (DATASOURCE["type"], DATASOURCE["uid"])
    for path in FOLDER.glob("*.json"):
        model = json.loads(path.read_text())
        panels = [p for p in model["panels"] if p["type"] != "row"]
        assert panels, path.name
        ids = [p["id"] for p in model["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in panels:
            assert panel["datasource"] == DATASOURCE, (path.name, panel["title"])
            assert panel["targets"], (path.name, panel["title"])
            assert all(t["expr"] and t["datasource"] == DATASOURCE for t in panel["targets"])
            at = panel["gridPos"]
            assert at["x"] + at["w"] <= WIDTH, (path.name, panel["title"])
            assert panel["description"], (path.name, panel["title"])


def test_the_dashboards_provider_reads_a_folder_of_them() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "dashboards" / "safereturn.yml").read_text())
    (provider,) = provisioned["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
