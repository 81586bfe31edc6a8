"""The catalogue notify serves documents the integrators' public streams: one message per
public event type, whose payload holds the public view's fields and nothing else."""

from services.notify.catalogue import with_public_streams
from services.notify.public import FIELDS
from shared.events import REGISTRY
from shared.events.catalogue import asyncapi
from shared.names import public_stream

DOCUMENT = with_public_streams(asyncapi(REGISTRY, "test"))


def test_the_public_channel_is_addressed_as_the_streams_are_named() -> None:
    address = DOCUMENT["channels"]["public"]["address"]
    assert address.replace("{province}", "11") == public_stream("11")
    assert DOCUMENT["operations"]["receive_public"]["channel"] == {"$ref": "#/channels/public"}


def test_each_public_event_type_is_a_message_with_only_its_public_fields() -> None:
    messages = DOCUMENT["components"]["messages"]
    shown = {m["name"].removeprefix("public "): m for m in messages.values()
             if m["name"].startswith("public ")}  # fmt: skip
    assert set(shown) == set(FIELDS)
    for event_type, message in shown.items():
        properties = set(message["payload"]["properties"])
        extra = {"age_band"} if event_type == "case.received" else set()
        assert properties == {"case_id", "province", "ward", *FIELDS[event_type], *extra}


def test_the_platforms_own_channels_are_kept() -> None:
    assert set(asyncapi(REGISTRY, "test")["channels"]) < set(DOCUMENT["channels"])
