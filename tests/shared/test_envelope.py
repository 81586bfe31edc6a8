"""The CloudEvents envelope on a stream entry, readable by any Redis client."""

from datetime import UTC, datetime

import pytest
import redis as redis_py
from redis.asyncio import Redis

from shared.db import Database
from shared.events.envelope import EnvelopeError, from_fields, to_fields
from shared.names import Stream
from shared.outbox import OutboxRelay, UnitOfWork
from tests.support import Ticked, registry

MOMENT = datetime(2025, 7, 1, 8, 30, tzinfo=UTC)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def envelope() -> dict[str, str]:
    event = registry.envelope(
        Ticked(n=4),
        event_id="01939a6f-0000-7000-8000-000000000001",
        source="/safereturn/intake",
        subject="case-4",
        time=MOMENT,
        extensions={"traceparent": TRACEPARENT},
    )
    return to_fields(event)


def test_every_attribute_is_a_plain_field_and_data_is_json() -> None:
    assert envelope() == {
        "specversion": "1.0",
        "id": "01939a6f-0000-7000-8000-000000000001",
        "source": "/safereturn/intake",
        "type": "test.ticked",
        "subject": "case-4",
        "time": "2025-07-01T08:30:00Z",
        "datacontenttype": "application/json",
        "dataschema": "urn:safereturn:event:test.ticked:v1",
        "traceparent": TRACEPARENT,
        "data": '{"n":4}',
    }


def test_fields_decode_back_to_the_same_event() -> None:
    fields = {k.encode(): v.encode() for k, v in envelope().items()}
    event = from_fields(fields)
    assert to_fields(event) == envelope()
    assert event.get_time() == MOMENT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"specversion": "0.3"}, "specversion"),
        ({"id": ""}, "id"),
        ({"time": "yesterday"}, "time"),
        ({"source": ""}, "source"),
    ],
)
def test_a_broken_entry_is_refused_with_the_attribute_named(
    change: dict[str, str], message: str
) -> None:
    with pytest.raises(EnvelopeError, match=message):
        from_fields(envelope() | change)


def test_an_entry_without_time_is_refused() -> None:
    fields = envelope()
    del fields["time"]
    with pytest.raises(EnvelopeError, match="time"):
        from_fields(fields)


async def test_a_plain_redis_client_reads_a_published_event(
    redis_url: str, redis: Redis, database: Database
) -> None:
    async with database.transaction() as session:
        uow = UnitOfWork(session, source="/safereturn/tests", registry=registry)
        await uow.emit(Ticked(n=12), subject="case-12", time=MOMENT)
    await OutboxRelay(database, redis, batch_size=10, poll_interval=1).publish_batch()

    plain = redis_py.Redis.from_url(redis_url, decode_responses=True)  # no FastStream, no helpers
    try:
        [(_, fields)] = plain.xrange(Stream.CASES)
    finally:
        plain.close()
    assert fields["specversion"] == "1.0"
    assert fields["type"] == "test.ticked"
    assert fields["source"] == "/safereturn/tests"
    assert fields["subject"] == "case-12"
    assert fields["time"] == "2025-07-01T08:30:00Z"
    assert fields["datacontenttype"] == "application/json"
    assert fields["dataschema"] == "urn:safereturn:event:test.ticked:v1"
    assert len(fields["id"]) == 36
    assert fields["data"] == '{"n":12}'
