"""The platform's instruments as a dashboard reads them: histogram buckets that separate the
durations they measure (the SDK's defaults put nearly every batch in the first bucket)."""

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

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
