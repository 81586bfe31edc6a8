"""The AsyncAPI catalogue committed under docs/ is the one the code generates."""

import json
import os
from pathlib import Path

from shared import VERSION
from shared.events import REGISTRY
from shared.events.catalogue import asyncapi
from shared.names import Stream

COMMITTED = Path(__file__).parents[2] / "docs" / "asyncapi.json"


def generated() -> str:
    return json.dumps(asyncapi(REGISTRY, VERSION), indent=2, ensure_ascii=False) + "\n"


def test_the_committed_catalogue_is_current() -> None:
    if os.environ.get("SAFERETURN_UPDATE_SNAPSHOTS") == "1":
        COMMITTED.write_text(generated())
    assert COMMITTED.read_text() == generated(), "regenerate: SAFERETURN_UPDATE_SNAPSHOTS=1"


def test_every_event_is_a_message_on_its_stream() -> None:
    document = asyncapi(REGISTRY, VERSION)
    assert document["asyncapi"] == "3.0.0"
    for model in REGISTRY:
        name = model.event_type.replace(".", "_")
        message = document["components"]["messages"][name]
        assert message["payload"] == model.model_json_schema()
        assert message["headers"]["properties"]["type"] == {"const": model.event_type}
    platform = document["channels"]["platform"]
    assert platform["address"] == Stream.PLATFORM
    assert set(platform["messages"]) == {"platform_probe_requested", "platform_probe_answered"}
