"""The event registry: decoding, versions and upcasters."""

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.events import EventPayload, EventRegistry, PayloadError, UnknownEventError
from shared.events.envelope import CloudEvent
from shared.events.registry import dataschema
from shared.names import Stream

MOMENT = datetime(2026, 1, 5, tzinfo=UTC)


class PersonCountedV1(EventPayload):
    event_type = "test.person_counted"
    stream = Stream.CASES
    version = 1

    age: int


class PersonCounted(EventPayload):
    """v2 renamed ``age`` to ``age_at_identification`` and added a required ``sex``."""

    event_type = "test.person_counted"
    stream = Stream.CASES
    version = 2

    age_at_identification: int
    sex: str


def registry_with_upcaster() -> EventRegistry:
    registry = EventRegistry()
    registry.register(PersonCounted)

    @registry.upcaster("test.person_counted", from_version=1)
    def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        return {"age_at_identification": data["age"], "sex": "unknown"}

    return registry


def raw_event(
    data: str, *, version: int | None, event_type: str = "test.person_counted"
) -> CloudEvent:
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/safereturn/old-producer",
        "type": event_type,
        "time": MOMENT,
    }
    if version is not None:
        attributes["dataschema"] = dataschema(event_type, version)
    return CloudEvent(attributes, data)


def test_the_current_version_decodes_to_its_model() -> None:
    event = registry_with_upcaster().decode(
        raw_event('{"age_at_identification": 15, "sex": "female"}', version=2)
    )
    assert event.payload == PersonCounted(age_at_identification=15, sex="female")
    assert (event.id, event.source, event.time) == ("e-1", "/safereturn/old-producer", MOMENT)


def test_an_old_version_is_upcast_to_the_current_model() -> None:
    event = registry_with_upcaster().decode(raw_event('{"age": 15}', version=1))
    assert event.payload == PersonCounted(age_at_identification=15, sex="unknown")


def test_an_event_without_dataschema_is_version_one() -> None:
    event = registry_with_upcaster().decode(raw_event('{"age": 9}', version=None))
    assert event.payload.age_at_identification == 9


def test_a_newer_version_than_the_consumer_knows_is_refused() -> None:
    with pytest.raises(UnknownEventError, match="v3 is newer"):
        registry_with_upcaster().decode(raw_event("{}", version=3))


def test_a_missing_upcaster_is_reported_and_refused() -> None:
    registry = EventRegistry()
    registry.register(PersonCounted)
    assert registry.missing_upcasters() == [("test.person_counted", 1)]
    with pytest.raises(UnknownEventError, match="no upcaster"):
        registry.decode(raw_event('{"age": 15}', version=1))


def test_an_optional_field_added_by_a_newer_producer_is_ignored() -> None:
    event = registry_with_upcaster().decode(
        raw_event('{"age_at_identification": 15, "sex": "male", "new_optional": 1}', version=2)
    )
    assert event.payload == PersonCounted(age_at_identification=15, sex="male")


def test_an_invalid_payload_names_the_field_but_not_the_value() -> None:
    with pytest.raises(PayloadError) as error:
        registry_with_upcaster().decode(
            raw_event('{"age_at_identification": "Nguyen Van A", "sex": "male"}', version=2)
        )
    assert "age_at_identification" in str(error.value)
    assert "Nguyen" not in str(error.value)


def test_unknown_types_and_foreign_schemas_are_refused() -> None:
    registry = registry_with_upcaster()
    with pytest.raises(UnknownEventError):
        registry.decode(raw_event("{}", version=1, event_type="test.unknown"))
    foreign = raw_event("{}", version=None)
    foreign = CloudEvent(foreign.get_attributes() | {"dataschema": "urn:other:v1"}, "{}")
    with pytest.raises(UnknownEventError, match="dataschema"):
        registry.decode(foreign)


def test_a_type_cannot_be_registered_to_two_models() -> None:
    registry = EventRegistry()
    registry.register(PersonCounted)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(PersonCountedV1)


def test_events_are_frozen() -> None:
    payload = PersonCounted(age_at_identification=1, sex="male")
    with pytest.raises(ValueError, match="frozen"):
        payload.sex = "female"  # type: ignore[misc]
