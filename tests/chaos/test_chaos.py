"""The chaos suite at small size, on SQLite and PostgreSQL: real processes SIGKILLed and
restarted, Redis SIGKILLed and restarted from its AOF, and every exactly-once invariant holds.
``make chaos`` runs it at full size."""

import pytest

from tests.chaos.run import Size, run

SMALL = Size(cases=300, kills=5, redis_kills=1, workers=16, quiesce_s=120.0)


@pytest.mark.timeout(600)  # a safety net: on a quiet 2-core machine a run takes about 3 min
@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_nothing_is_lost_or_doubled_under_chaos(
    database: str, request: pytest.FixtureRequest
) -> None:
    server: str | None = None
    if database == "postgresql":
        found: str | LookupError = request.getfixturevalue("postgres_server")
        if isinstance(found, LookupError):
            pytest.skip(str(found))
        server = found
    result = run(database, SMALL, postgres=server)
    assert (result.figures["lost"], result.figures["doubled"]) == (0, 0), "\n".join(result.lines())
    assert result.ok, "\n".join(result.lines())
