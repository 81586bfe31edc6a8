"""Contract test: each event's JSON Schema is held in a snapshot.

A change to an event's schema fails here. Adding an optional field: refresh the snapshot
(``SAFERETURN_UPDATE_SNAPSHOTS=1 make test``). Anything else: bump the event's version, keep
the old snapshot, and register an upcaster from the old version.
"""

import json
import os
from pathlib import Path

import pytest

from shared.events import REGISTRY, EventPayload

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("SAFERETURN_UPDATE_SNAPSHOTS") == "1"


def snapshot_path(model: type[EventPayload]) -> Path:
    return SNAPSHOTS / f"{model.event_type}.v{model.version}.json"


def schema_text(model: type[EventPayload]) -> str:
    schema = model.model_json_schema()
    schema["x-event-type"] = model.event_type
    schema["x-event-version"] = model.version
    schema["x-stream"] = str(model.stream)
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("model", list(REGISTRY), ids=lambda model: model.event_type)
def test_the_schema_matches_its_snapshot(model: type[EventPayload]) -> None:
    path = snapshot_path(model)
    if UPDATE:
        path.write_text(schema_text(model))
    assert path.exists(), f"no snapshot for {model.event_type} v{model.version}: {path}"
    assert schema_text(model) == path.read_text(), (
        f"{model.event_type} v{model.version} changed; see this module's docstring"
    )


def test_every_snapshot_belongs_to_a_registered_version() -> None:
    current = {(model.event_type, model.version) for model in REGISTRY}
    for path in SNAPSHOTS.glob("*.json"):
        event_type, _, version = path.stem.rpartition(".v")
        assert event_type in REGISTRY, f"{path.name}: type no longer registered"
        model = REGISTRY.model(event_type)
        assert int(version) <= model.version, f"{path.name}: newer than the code"
        assert (event_type, int(version)) in current or int(version) < model.version


def test_every_old_version_can_be_read() -> None:
    assert REGISTRY.missing_upcasters() == []


def test_events_carry_no_personal_data_fields() -> None:
    forbidden = {"full_name", "name", "id_number", "phone", "address", "residence", "email"}
    for model in REGISTRY:
        assert not forbidden & set(model.model_fields), f"{model.event_type} carries PII"
