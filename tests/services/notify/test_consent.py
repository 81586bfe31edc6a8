"""Consent to information sharing, obeyed whatever the order: notify runs its real app,
migrations and case-stream consumer over any permutation of a case's history, with duplicates,
in any batches. Nothing of a case whose person refused sharing (or whose consent is unknown:
merged at intake) reaches an integrator, by webhook or on its stream; of a case whose person
agreed, every public event reaches both, once, as the same view without personal data — on
the streams of the integrators of its area that chose its type, and no other."""

import dataclasses
import json
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import store
from services.notify.public import DATASCHEMA, FIELDS
from shared.db import outbox
from shared.events.intake import CaseReceived
from shared.names import integrator_stream
from shared.retention import Retention
from shared.settings import ServiceSettings
from tests.services.case_consumers import (
    CASE,
    INTEGRATORS,
    KEPT,
    MERGED_AT_INTAKE,
    SERVICES,
    Runner,
)
from tests.services.test_case_event_order import deliveries, entry, histories

PERSONAL = {"age", "ethnicity", "nationality", "agency", "channel", "accompanying_minors",
            "consent", "provider", "evidence", "beneficiary", "retrafficking_risk", "into",
            "child", "protected", "candidate_case_id", "score"}  # fmt: skip


async def integrators_view(session: AsyncSession) -> dict[str, Any]:
    """What integrators get: webhook deliveries, and entries queued for their streams."""
    hooks = await session.execute(
        select(store.deliveries.c.event).where(store.deliveries.c.recipient == "integrator")
    )
    entries = await session.execute(select(outbox.c.stream, outbox.c.fields))
    return {
        "webhooks": [row.event for row in hooks],
        "streams": [(row.stream, row.fields) for row in entries],
    }


@pytest.fixture(scope="module")
def runner(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    own_redis = redis_url.rsplit("/", 1)[0] + "/4"
    notify = dataclasses.replace(SERVICES["notify"], state=integrators_view)
    return Runner(notify, own_redis, tmp_path_factory.mktemp("notify-consent"))


@pytest.mark.timeout(300)
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_an_integrator_hears_of_a_case_exactly_when_its_person_consented_to_sharing(
    runner: Runner, data: st.DataObject
) -> None:
    history = data.draw(histories(), label="history")
    events = [entry(n, payload) for n, payload in enumerate(history)]
    delivered = data.draw(deliveries(len(events)), label="delivery")
    note("\n".join(f"{n}: {p.event_type} {p.model_dump(mode='json')}"
                   for n, p in enumerate(history)))  # fmt: skip
    seen = runner.state_after(events, delivered)

    (case,) = [p for p in history if isinstance(p, CaseReceived) and p.case_id == CASE]
    sharing = {CASE: case.consent.information_sharing, KEPT: True, MERGED_AT_INTAKE: False}
    expected = Counter(
        (p.case_id, p.event_type)  # type: ignore[attr-defined]
        for p in history
        if p.event_type in FIELDS and sharing[p.case_id]  # type: ignore[attr-defined]
    )
    hooks = Counter((e["subject"], e["type"]) for e in seen["webhooks"])
    assert hooks == expected  # one subscription to every event of the province

    def entries(name: str) -> Counter[tuple[str, str]]:
        return Counter((f["subject"], f["type"]) for stream, f in seen["streams"]
                       if stream == integrator_stream(name))  # fmt: skip

    assert entries("ngo-here") == expected
    assert entries("national") == Counter({k: n for k, n in expected.items()
                                           if k[1] == "case.received"})  # fmt: skip
    assert entries("ngo-elsewhere") == Counter()
    assert {s for s, _ in seen["streams"]} <= {integrator_stream(n) for n, *_ in INTEGRATORS}
    for fields in [f for _, f in seen["streams"]]:
        webhook = next(e for e in seen["webhooks"] if e["id"] == fields["id"])
        assert json.loads(fields["data"]) == webhook["data"]  # one view, both ways
        assert fields["dataschema"] == DATASCHEMA
        assert not PERSONAL & set(webhook["data"])
        if fields["type"] == "case.received":
            assert webhook["data"]["age_band"] in ("0-15", "35+", "unknown", "25-34")


async def test_an_integrator_stream_keeps_entries_for_its_retention_only(redis: Redis) -> None:
    """No platform group reads an integrator's stream: it is trimmed by age, read or not."""
    stream, now_ms = integrator_stream("ngo-here"), int(time.time() * 1000)
    day_ms = 86_400_000
    await redis.xadd(stream, {"age": "old"}, id=f"{now_ms - 3 * day_ms}-0")
    await redis.xadd(stream, {"age": "new"}, id=f"{now_ms - day_ms // 2}-0")
    await redis.xgroup_create(stream, "integrator-1", id="0")  # an integrator that never reads
    settings = ServiceSettings(public_stream_retention_s=2 * 86_400.0)
    trimmed = await Retention.of_platform(redis, "tests@here", settings).run()
    assert trimmed is not None
    assert trimmed[stream] == 1
    assert [fields[b"age"] for _, fields in await redis.xrange(stream)] == [b"new"]
