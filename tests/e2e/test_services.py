"""Services as separate processes on real Redis: events cross them with their trace."""

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.names import Service
from tests.conftest import DatabaseFactory
from tests.e2e.conftest import Services


def poll(
    url: str,
    done: Callable[[dict[str, Any]], bool],
    headers: dict[str, str],
    limit: float = 30.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        response = httpx.get(url, headers=headers, timeout=5)
        if response.status_code == 200 and done(response.json()):
            body: dict[str, Any] = response.json()
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"{url} never got there: {response.status_code} {response.text}")
        time.sleep(0.1)


async def test_an_event_crosses_service_processes_with_its_trace(
    services: Services, new_database_url: DatabaseFactory
) -> None:
    for name in (Service.INTAKE, Service.VERIFICATION, Service.STATS):
        services.env[f"SAFERETURN_{name.upper()}_DATABASE_URL"] = await new_database_url()
    await asyncio.to_thread(services.start, Service.INTAKE, Service.VERIFICATION, Service.STATS)
    trace_id = secrets.token_hex(16)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{services.urls[Service.INTAKE]}/v1/diagnostics/probes",
            headers={
                "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
                **services.auth("admin"),
            },
        )
    assert response.status_code == 202
    probe_id = response.json()["probe_id"]
    headers = {"Authorization": response.request.headers["Authorization"]}

    for consumer in (Service.VERIFICATION, Service.STATS):
        url = f"{services.urls[consumer]}/v1/diagnostics/probes/{probe_id}"
        receipt = await asyncio.to_thread(poll, url, lambda body: True, headers)
        assert receipt["trace_id"] == trace_id, f"{consumer} did not continue the trace"

    # verification answered on the bus; intake consumed the answer in its own process
    probe = await asyncio.to_thread(
        poll,
        f"{services.urls[Service.INTAKE]}/v1/diagnostics/probes/{probe_id}",
        lambda body: any(a["service"] == Service.VERIFICATION for a in body["answers"]),
        headers,
    )
    (answer,) = probe["answers"]
    assert answer["trace_id"] == trace_id
    assert sorted(probe["missing"]) == [Service.NOTIFY, Service.SUPPORT]


def test_every_service_exposes_health_readiness_and_metrics(services: Services) -> None:
    services.start(*Service)
    for name, url in services.urls.items():
        assert httpx.get(f"{url}/health").json() == {"status": "ok", "service": name}
        assert httpx.get(f"{url}/ready").json()["status"] == "ready"
        catalogue = httpx.get(f"{url}/asyncapi.json", headers=services.auth("integrator"))
        assert catalogue.json()["asyncapi"] == "3.0.0"
    admin = services.auth("admin")
    probe_id = httpx.post(
        f"{services.urls[Service.INTAKE]}/v1/diagnostics/probes", headers=admin
    ).json()["probe_id"]
    poll(
        f"{services.urls[Service.INTAKE]}/v1/diagnostics/probes/{probe_id}",
        lambda body: body["complete"],
        admin,
    )

    metrics = httpx.get(f"{services.urls[Service.VERIFICATION]}/metrics").text
    assert 'safereturn_events_consumed_total{group="safereturn.verification"' in metrics
    assert "safereturn_events_published_total" in metrics
    assert "safereturn_outbox_backlog" in metrics
    assert probe_id not in metrics


def test_metrics_are_what_a_dashboard_reads(services: Services) -> None:
    """Units named once, buckets that fit, the token endpoint's outcomes and the audit chain's
    appends counted, and every stream's and group's figures exported by exactly one process
    (Prometheus would add up the same figure from every replica)."""
    services.start(*Service)
    intake = services.urls[Service.INTAKE]
    admin = services.auth("admin")
    refused = httpx.post(
        f"{intake}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "wrong"},
    )
    assert refused.status_code == 401
    probe_id = httpx.post(f"{intake}/v1/diagnostics/probes", headers=admin).json()["probe_id"]
    poll(f"{intake}/v1/diagnostics/probes/{probe_id}", lambda body: body["complete"], admin)
    texts = {name: httpx.get(f"{url}/metrics").text for name, url in services.urls.items()}
    samples = [sample for text in texts.values()
               for family in text_string_to_metric_families(text)
               for sample in family.samples]  # fmt: skip

    def found(name: str, **labels: str) -> list[float]:
        return [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]

    for text in texts.values():  # a unit in the name once (not …_days_to_decision_days)
        for family in re.findall(r"^# TYPE (\S+)", text, re.M):
            words = family.split("_")
            assert all(words.count(unit) <= 1 for unit in ("seconds", "days", "bytes")), family
    batches = "safereturn_consume_batch_duration_seconds_bucket"
    assert found(batches, group="safereturn.verification", le="0.0025")  # buckets that fit
    assert found("safereturn_token_requests_total", outcome="success") == [1.0]  # the admin's
    assert found("safereturn_token_requests_total", outcome="failed_login") == [1.0]
    assert sum(found("safereturn_audit_appends_total")) >= 3  # both logins and the probe
    assert found("safereturn_outbox_oldest_age_seconds")
    cases = "safereturn:{cases}"
    for group in ("safereturn.verification", "safereturn.stats"):
        for gauge in ("pending", "lag", "consumers", "oldest_pending_age_seconds"):
            assert len(found(f"safereturn_consumer_{gauge}", group=group, stream=cases)) == 1
    for gauge in ("length", "dead_letters"):
        assert len(found(f"safereturn_stream_{gauge}", stream=cases)) == 1
    assert probe_id not in "".join(texts.values())


def test_an_unknown_probe_is_a_problem_response(services: Services) -> None:
    services.start(Service.INTAKE)
    response = httpx.get(
        f"{services.urls[Service.INTAKE]}/v1/diagnostics/probes/nope", headers=services.auth()
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:safereturn:problem:not-found",
        "title": "No such probe",
        "status": 404,
    }
