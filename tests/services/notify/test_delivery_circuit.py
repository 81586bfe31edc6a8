"""An open circuit puts a delivery off until its cooldown ends, without using an attempt up or
recording a failure: a gateway that fails twice (opening its breaker) and then answers gets
the message on the last attempt the delivery has, with a real gateway on loopback. That is
bounded: deliveries queued behind an endpoint that stays down fail as ``circuit_open`` once put
off longer than their retries would have lasted, rather than waiting a trial each; and an
open circuit puts off every delivery waiting for its endpoint at once."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from safereturn.sinks import HttpSink
from services.notify import store
from services.notify.delivery import Deliverer
from services.notify.outcomes import CIRCUIT_OPEN
from tests.services.notify.test_delivery import (
    MESSAGES,
    delivery,
    notify_platform,
    outcomes,
    record,
    row_of,
    running,
    settings_for,
    settled,
)

COOLDOWN_S = 1.0


async def test_an_open_circuit_delays_a_delivery_without_using_an_attempt_up(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Three attempts; two failures open the breaker. The third attempt must wait for the
    cooldown and reach the gateway, which answers by then: the circuit used nothing up."""
    with HttpSink() as gateway:
        gateway.plans["/sms"] = [500, 500]  # then 200
        settings = settings_for(database_url, redis_url, tmp_path, delivery_max_attempts=3,
                                breaker_failures=2, breaker_cooldown_s=COOLDOWN_S,
                                retry_base_s=0.05, retry_cap_s=0.1,
                                sms_gateway_url=gateway.url("/sms"))  # fmt: skip
        async with notify_platform(settings) as platform:
            row = delivery()
            await record(platform, row)
            deliverer = Deliverer(platform, settings, MESSAGES)
            async with running(deliverer):
                final = await settled(platform, row["delivery_id"], within_s=10)
                await asyncio.sleep(0.3)  # time for anything further
            events = [kind for kind, _ in await outcomes(platform, row["delivery_id"])]
    assert (final.status, final.attempts, final.last_error) == ("sent", 3, None)
    assert len(gateway.at("/sms")) == 3  # every attempt reached the gateway
    assert events == ["notification.sent"]
    assert deliverer.metrics.attempts == {("sms", "failed"): 2, ("sms", "sent"): 1}
    assert deliverer.metrics.deferred[("sms", "circuit_open")] >= 1


QUEUED = 3
ATTEMPTS = 4  # retries spanning 0.05 + 0.1 + 0.1 s: well within one cooldown


async def test_deliveries_behind_a_dead_endpoint_fail_once_put_off_past_their_retry_span(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """A gateway that never answers: the first failures open its circuit; each cooldown lets
    one trial through. The deliveries that meet the circuit open again once they were recorded
    longer ago than their retries span fail as ``circuit_open``, once each, with the attempts
    that reached the gateway (none used by the circuit). Unbounded, each would wait for a trial
    of its own, every cooldown, until all its attempts were used: 12 trials."""
    with HttpSink() as gateway:
        gateway.plans["/sms"] = [500] * 100
        settings = settings_for(database_url, redis_url, tmp_path, delivery_max_attempts=ATTEMPTS,
                                breaker_failures=1, breaker_cooldown_s=0.5, retry_base_s=0.05,
                                retry_cap_s=0.1, sms_gateway_url=gateway.url("/sms"))  # fmt: skip
        async with notify_platform(settings) as platform:
            rows = [delivery() for _ in range(QUEUED)]
            for row in rows:
                await record(platform, row)
            async with running(Deliverer(platform, settings, MESSAGES)):
                finals = [await settled(platform, row["delivery_id"], within_s=10) for row in rows]
                await asyncio.sleep(0.5)  # time for anything further
            events = {row["delivery_id"]: await outcomes(platform, row["delivery_id"])
                      for row in rows}  # fmt: skip
    reached = Counter(request.json()["reference"] for request in gateway.at("/sms"))
    assert [final.status for final in finals] == ["failed"] * QUEUED
    bounded = [final for final in finals if final.last_error == CIRCUIT_OPEN]
    assert bounded, "no delivery was failed by the bound"
    assert all(final.attempts < ATTEMPTS for final in bounded)
    assert sum(reached.values()) < QUEUED * ATTEMPTS
    for final in finals:  # every attempt counted reached the gateway; told failed once
        assert final.attempts == reached[final.delivery_id]
        assert [(kind, data["attempts"], data["reason"]) for kind, data in
                events[final.delivery_id]] == [
            ("notification.failed", final.attempts, final.last_error)
        ]  # fmt: skip


async def test_an_open_circuit_puts_off_every_delivery_waiting_for_its_endpoint_at_once(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """One update moves the deliveries waiting for the endpoint (the webhook's origin, or the
    channel's relay) to the cooldown's end; others, and those under way, stay as they are."""
    settings = settings_for(database_url, redis_url, tmp_path)
    now = datetime.now(UTC)
    until = now + timedelta(seconds=30)

    def hook(url: str, **changes: object) -> dict[str, object]:
        return delivery(channel="webhook", address=url, recipient_key=f"agency:a:webhook:{url}",
                        **changes)  # fmt: skip

    moved = [hook("https://hooks.example:8443/a"), hook("https://hooks.example:8443/b?x=1"),
             hook("https://hooks.example:8443", status="retrying", attempts=2,
                  next_attempt_at=now + timedelta(seconds=5))]  # fmt: skip
    kept = [hook("https://hooks.example:84/a"), hook("https://hooks.example:8443.evil/a"),
            hook("https://other.example/a"), hook("https://hooks.example:8443/c", status="sent"),
            hook("https://hooks.example:8443/d", next_attempt_at=now + timedelta(minutes=5)),
            delivery()]  # fmt: skip
    async with notify_platform(settings) as platform:
        for row in moved + kept:
            await record(platform, row)
        async with platform.unit_of_work() as uow:
            count = await store.put_off_endpoint(uow.session, "webhook",
                                                 "https://hooks.example:8443", until,
                                                 CIRCUIT_OPEN)  # fmt: skip
        after = {row["delivery_id"]: await row_of(platform, str(row["delivery_id"]))
                 for row in moved + kept}  # fmt: skip
        async with platform.unit_of_work() as uow:
            sms = await store.put_off_endpoint(uow.session, "sms", None, until, CIRCUIT_OPEN)
    assert count == len(moved)
    for row in moved:
        found = after[row["delivery_id"]]
        assert (found.next_attempt_at, found.last_error) == (until, CIRCUIT_OPEN)
        assert (found.status, found.attempts) == (row["status"], row["attempts"])
    for row in kept:
        found = after[row["delivery_id"]]
        assert (found.next_attempt_at, found.last_error) == (row["next_attempt_at"], None)
    assert sms == 1
