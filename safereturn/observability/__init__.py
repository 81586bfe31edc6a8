"""What operators look at: Prometheus scraping the platform with the alert rules loaded, and
the Grafana dashboards (``deploy/observability/``) generated from one definition."""

from pathlib import Path

DEPLOY = Path(__file__).parents[2] / "deploy" / "observability"
