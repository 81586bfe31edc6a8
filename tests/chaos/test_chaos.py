"""The chaos suite at small size, on SQLite and PostgreSQL: real processes SIGKILLed and
restarted, Redis SIGKILLed and restarted from its AOF, and every exactly-once invariant holds;
then on a Redis Cluster through a primary's failover. ``make chaos`` runs it at full size."""

import pytest

from tests.chaos.run import Size, run
from tests.redis_cluster import unavailable

# 5 service kills and 1 Redis kill; 200 cases keep a run near 3 minutes on a quiet 2-core
# machine (it took 6 to 11 on this one while five other agents shared it).
SMALL = Size(cases=200, kills=5, redis_kills=1, workers=8, quiesce_s=120.0)


@pytest.mark.timeout(1200)  # a safety net: a run that waits this long has hung
def test_nothing_is_lost_or_doubled_under_chaos(database_kind: tuple[str, str | None]) -> None:
    database, server = database_kind
    result = run(database, SMALL, postgres=server)
    assert (result.figures["lost"], result.figures["doubled"]) == (0, 0), "\n".join(result.lines())
    assert result.ok, "\n".join(result.lines())


# A Redis Cluster of three primaries and three replicas, the case stream split three ways
# (each partition its own slot): service kills, and the primary holding the case stream
# SIGKILLed mid-load — its replica takes over and the killed node rejoins as a replica.
CLUSTER = Size(cases=100, kills=3, redis_kills=1, workers=8, quiesce_s=120.0)


@pytest.mark.timeout(1200)
def test_nothing_is_lost_or_doubled_on_a_redis_cluster_through_a_failover() -> None:
    if reason := unavailable():
        pytest.skip(reason)
    result = run("sqlite", CLUSTER, redis_cluster=True, case_partitions=3)
    assert (result.figures["lost"], result.figures["doubled"]) == (0, 0), "\n".join(result.lines())
    assert result.figures["redis restarts"] == 1, "the primary was killed and failed over"
    assert result.ok, "\n".join(result.lines())
