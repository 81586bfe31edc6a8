"""An open circuit puts a delivery off until its cooldown ends, without using an attempt up or
recording a failure: a gateway that fails twice (opening its breaker) and then answers gets
the message on the last attempt the delivery has, with a real gateway on loopback."""

import asyncio
from pathlib import Path

from safereturn.sinks import HttpSink
from services.notify.delivery import Deliverer
from tests.services.notify.test_delivery import (
    MESSAGES,
    delivery,
    notify_platform,
    outcomes,
    record,
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
