"""One report, one trace: intake's request, the event's publication, each consumer's handling
with its database calls, and notify's deliveries with their mail — one tree, as a collector
receives it from every service over OTLP (the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``); the
batch each consumer read it in is a span linked to that tree."""

import secrets
from collections.abc import Iterator

import httpx
import pytest

from shared.names import Service
from tests.e2e.conftest import Services
from tests.e2e.notify.common import Peers, eventually, mails_about
from tests.e2e.notify.conftest import sending_platform
from tests.e2e.otlp import OtlpSink, Span
from tests.e2e.test_reports import report

CONSUMERS = (Service.VERIFICATION, Service.SUPPORT, Service.NOTIFY, Service.STATS)


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpSink]:
    with OtlpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def traced(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, peers: Peers,
    collector: OtlpSink,
) -> Iterator[Services]:  # fmt: skip
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    with sending_platform(redis_url, tmp_path_factory.mktemp("traced"), peers, env) as started:
        yield started


def test_a_report_is_one_trace_through_every_hop(
    traced: Services, peers: Peers, collector: OtlpSink
) -> None:
    trace_id, root = secrets.token_hex(16), secrets.token_hex(8)  # the agency system's span
    answer = httpx.post(f"{traced.urls[Service.INTAKE]}/v1/reports", json=report("t-traced"),
                        headers=traced.auth("reporter") | {
                            "traceparent": f"00-{trace_id}-{root}-01"})  # fmt: skip
    assert answer.status_code == 202, answer.text
    case_id = answer.json()["case_id"]
    eventually(lambda: mails_about(peers, case_id, 4))

    def orphans(spans: list[Span]) -> list[str]:
        ids = {span.span_id for span in spans}
        return [f"{s.service}: {s.name}" for s in spans if s.parent_id not in ids | {root}]

    def complete() -> list[Span] | None:
        spans = collector.of_trace(trace_id)
        sent = [s for s in spans if s.name == "smtp send"]
        handled = {s.service for s in spans if s.name == "case.received process"}
        ready = len(sent) >= 4 and handled >= {f"safereturn-{c}" for c in CONSUMERS}
        # A span ends (and is exported) before its parent, so the tree is whole only once
        # every parent has arrived too: one tree under the caller.
        return spans if ready and not orphans(spans) else None

    try:
        spans = eventually(complete, timeout=30)
    except AssertionError:
        spans = collector.of_trace(trace_id)
        pytest.fail(f"not one tree under the caller: without their parent {orphans(spans)}")
    by_name = {span.name for span in spans}
    assert any(s.service == "safereturn-intake" and s.parent_id == root for s in spans)
    assert "safereturn:{cases} publish" in by_name  # the XADD of case.received
    for consumer in CONSUMERS:  # each consumer handled it, and wrote to its database
        handling = [
            s
            for s in spans
            if s.service == f"safereturn-{consumer}" and s.name == "case.received process"
        ]
        assert handling, consumer
        assert any(s.service == f"safereturn-{consumer}" and "db.system" in str(s.attributes)
                   for s in spans), consumer  # fmt: skip
    # Each consumer read it in a batch: a span of its own, linked to the span the event was
    # emitted in (the one its handling continues from).
    emitted = {s.parent_id for s in spans if s.name == "case.received process"}

    def read() -> set[str] | None:  # a batch's span ends (and is exported) after its events'
        batches = [s for s in collector.linked_to(trace_id) if s.name.endswith("receive")]
        readers = {s.service for s in batches if {i for _, i in s.links} & emitted}
        return readers if readers >= {f"safereturn-{c}" for c in CONSUMERS} else None

    eventually(read, timeout=10)
    deliveries = {s.span_id for s in spans if s.name == "case.received deliver"}
    mail = [s for s in spans if s.name == "smtp send"]
    assert mail
    assert all(s.parent_id in deliveries for s in mail)  # each mail inside its delivery
    assert not any(case_id in str(s.attributes) and "db.statement" in str(s.attributes)
                   for s in spans)  # fmt: skip
