"""The platform's instruments as a dashboard reads them: histogram buckets that separate the
durations they measure (the SDK's defaults put nearly every batch in the first bucket), and a
stream's or a group's figures exported once, not by every replica."""

import asyncio
import secrets

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from redis.asyncio import Redis

from shared import figures
from shared.names import dead_letter_stream
from shared.telemetry import Metrics


def buckets_of(reader: InMemoryMetricReader, name: str) -> dict[float, int]:
    """Upper bound → count of the histogram's one data point."""
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    (point,) = metric.data.data_points
                    assert isinstance(point, HistogramDataPoint)
                    return dict(zip(point.explicit_bounds, point.bucket_counts, strict=False))
    raise AssertionError(f"no {name}")


def test_batch_durations_land_in_buckets_that_tell_them_apart() -> None:
    reader = InMemoryMetricReader()
    metrics = Metrics(MeterProvider(metric_readers=[reader]))
    for seconds in (0.002, 0.04, 0.3):  # a small batch, a larger one, a slow one
        metrics.batch_seconds("safereturn:{cases}", "safereturn.stats", seconds)
    buckets = buckets_of(reader, "safereturn_consume_batch_duration")
    assert buckets[0.0025] == 1
    assert buckets[0.05] == 1
    assert buckets[0.5] == 1
    assert sum(1 for n in buckets.values() if n) == 3  # three buckets, not one


def gauges_of(reader: InMemoryMetricReader, name: str) -> dict[tuple[str, ...], float]:
    """The gauge's values by their labels' values (in label order)."""
    data = reader.get_metrics_data()
    found: dict[tuple[str, ...], float] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        labels = tuple(str(v) for v in (point.attributes or {}).values())
                        found[labels] = point.value  # type: ignore[union-attr]
    return found


def new_metrics() -> tuple[Metrics, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    return Metrics(MeterProvider(metric_readers=[reader])), reader


async def test_a_streams_figures_come_from_one_replica_at_a_time(redis: Redis) -> None:
    """Two replicas maintain the same group: one exports the group's and the stream's figures,
    the other nothing (Prometheus would add them up); when the first stops, the other takes
    over once the lease lapses."""
    stream, group = f"test-{secrets.token_hex(4)}", "safereturn.test"
    await redis.xgroup_create(stream, group, id="0", mkstream=True)
    for n in range(3):
        await redis.xadd(stream, {"n": n})
    await redis.xreadgroup(group, "a", {stream: ">"}, count=2)  # two pending
    await redis.xadd(dead_letter_stream(stream), {"n": 9})
    (first, first_reader), (second, second_reader) = new_metrics(), new_metrics()
    for _ in range(2):
        for metrics, holder in ((first, "a"), (second, "b")):
            await figures.observe(redis, metrics, stream, group, holder=holder,
                                         round_s=0.1)  # fmt: skip
    assert gauges_of(first_reader, "safereturn_consumer_pending") == {(stream, group): 2}
    assert gauges_of(first_reader, "safereturn_consumer_lag") == {(stream, group): 1}
    assert gauges_of(first_reader, "safereturn_consumer_consumers") == {(stream, group): 1}
    (age,) = gauges_of(first_reader, "safereturn_consumer_oldest_pending_age").values()
    assert 0 <= age < 60
    assert gauges_of(first_reader, "safereturn_stream_length") == {(stream,): 3}
    assert gauges_of(first_reader, "safereturn_stream_dead_letters") == {(stream,): 1}
    for name in ("safereturn_consumer_pending", "safereturn_stream_length"):
        assert gauges_of(second_reader, name) == {}
    await asyncio.sleep(0.35)  # three rounds: the first replica's leases lapse
    await figures.observe(redis, second, stream, group, holder="b", round_s=0.1)
    assert gauges_of(second_reader, "safereturn_consumer_pending") == {(stream, group): 2}
    assert gauges_of(second_reader, "safereturn_stream_length") == {(stream,): 3}
    await figures.observe(redis, first, stream, group, holder="a", round_s=0.1)
    assert gauges_of(first_reader, "safereturn_consumer_pending") == {}  # back: it forgets
