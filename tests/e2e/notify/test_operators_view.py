"""Proof, not hope: Debian's Prometheus scrapes the running platform with the operators' alert
rules loaded; after a report has gone through (mail sent), every alert expression evaluates,
and every metric any of them names is exported by the platform."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.names import Service
from tests.e2e.conftest import Services
from tests.e2e.notify.common import Peers, eventually, mails_about, new_case
from tests.observability.prometheus import PROMETHEUS, Prometheus, scraping

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="Debian's prometheus is not installed: make prometheus"
)
METRIC = re.compile(r"\b(safereturn_[a-z_]+|up)\b(?!\s*\()")


@pytest.fixture(scope="module")
def prometheus(notify: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    targets = {str(name): url for name, url in notify.urls.items()}
    with scraping(targets, Path(tmp_path_factory.mktemp("prometheus"))) as started:
        yield started


def test_every_alert_expression_answers_from_the_platforms_metrics(
    notify: Services, peers: Peers, prometheus: Prometheus
) -> None:
    case_id = new_case(notify, "o-alerts")
    eventually(lambda: mails_about(peers, case_id, 4))
    eventually(lambda: len(prometheus.query('up{job="safereturn"} == 1')) == len(Service))
    eventually(lambda: prometheus.query("safereturn_notify_attempts_total"), timeout=30)
    rules = prometheus.rules()
    assert {rule["health"] for rule in rules} == {"ok"}, rules
    assert len(rules) >= 9
    for rule in rules:
        prometheus.query(rule["query"])  # evaluates (an error fails here)
        for metric in set(METRIC.findall(rule["query"])):
            assert prometheus.query(metric), f"{rule['name']}: the platform exports no {metric}"
    assert not prometheus.query('ALERTS{alertstate="firing", severity="page"}')  # all is well
