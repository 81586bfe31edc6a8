"""The submissions stream across intake's crashes and downtime, on real processes: a
submission committed but not acknowledged when intake was SIGKILLed has no second effect, and
a backlog that outlived its tokens while intake was down is admitted."""

import signal
import sqlite3
import time
from collections.abc import Callable

import redis as redis_py
from joserfc.jwk import ECKey

from safereturn.submitting import fetch_encryption_key, submission_fields
from shared.names import Service, Stream, consumer_group
from tests.e2e.conftest import Services
from tests.e2e.test_reports import RECEIVED, events

ACTIVITY = {
    "kind": "training", "date": RECEIVED.isoformat(),
    "area": {"province": "11", "ward": "03325"}, "sessions": 1, "participants": 30,
}  # fmt: skip


def add(
    services: Services, event_id: str, data: object, token: str, key: ECKey | None = None
) -> str:
    """XADD a submission as an agency's system does (encrypted to intake); its entry id."""
    key = key or fetch_encryption_key(services.urls[Service.INTAKE])
    fields = submission_fields("activity.submitted", data, token, key, event_id=event_id,
                               source="/agency/crash-test")  # fmt: skip
    client = redis_py.Redis.from_url(services.env["SAFERETURN_REDIS_URL"])
    try:
        return str(client.xadd(Stream.SUBMISSIONS, fields).decode())
    finally:
        client.close()


def until(condition: Callable[[], bool], what: str, wait: float = 30.0) -> None:
    deadline = time.monotonic() + wait
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def count(database: str, query: str) -> int:
    with sqlite3.connect(database) as connection:
        found: int = connection.execute(query).fetchone()[0]
    return found


def pending(redis: "redis_py.Redis[bytes]") -> int:
    return int(redis.xpending(Stream.SUBMISSIONS, consumer_group(Service.INTAKE))["pending"])


def test_a_submission_committed_but_not_acknowledged_when_intake_died_has_one_effect(
    services: Services,
) -> None:
    services.start(Service.INTAKE)
    token = services.token("reporter")
    database = str(services.logs / "intake.db")
    activities = "SELECT count(*) FROM activities"
    reported = "SELECT count(*) FROM outbox WHERE event_type = 'activity.reported'"
    redis = redis_py.Redis.from_url(services.env["SAFERETURN_REDIS_URL"])
    key = fetch_encryption_key(services.urls[Service.INTAKE])
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # intake's transaction waits for us, entry in hand
        add(services, "crash-1", ACTIVITY, token, key)
        until(lambda: pending(redis) == 1, "intake to read the entry")
        redis.execute_command("CLIENT", "PAUSE", "30000", "WRITE")  # its XACK will hang
        try:
            holder.execute("ROLLBACK")
            until(lambda: count(database, activities) == 1, "intake to commit the activity")
            time.sleep(0.5)  # well into its XACK, which Redis holds back
            services.processes[Service.INTAKE].send_signal(signal.SIGKILL)
            services.processes[Service.INTAKE].wait(10)
        finally:
            redis.execute_command("CLIENT", "UNPAUSE")
        assert pending(redis) == 1, "committed, never acknowledged"

        services.start(Service.INTAKE)  # its reclaimer delivers the entry again
        until(lambda: pending(redis) == 0, "the entry to be reclaimed and settled")
        until(lambda: len(events(services, Stream.ACTIVITIES, "activity.reported")) >= 1,
              "the activity to be published")  # fmt: skip
        time.sleep(1.0)  # time for a second effect, were there one
        assert count(database, activities) == count(database, reported) == 1
        assert len(events(services, Stream.ACTIVITIES, "activity.reported")) == 1
    finally:
        holder.close()
        redis.close()


def test_a_backlog_older_than_its_tokens_is_admitted_after_intake_was_down(
    services: Services,
) -> None:
    services.env["SAFERETURN_TOKEN_TTL_S"] = "2"
    services.start(Service.INTAKE)
    token = services.token("reporter")
    key = fetch_encryption_key(services.urls[Service.INTAKE])  # the agency's copy of the JWKS
    process = services.processes[Service.INTAKE]
    process.terminate()
    process.wait(15)
    add(services, "backlog-1", ACTIVITY, token, key)
    time.sleep(3.5)  # the token has expired, the submission waits on the stream
    services.start(Service.INTAKE)
    until(lambda: len(events(services, Stream.ACTIVITIES, "activity.reported")) == 1,
          "the backlog to be admitted")  # fmt: skip
    assert events(services, Stream.SUBMISSIONS_REJECTED, "submission.rejected") == []
