"""The contract documents the integrators' streams: where each integrator's stream and group
are, one message per public event type whose payload holds the public view's fields and
nothing else, and the recipe to consume them."""

from safereturn.contract import document
from services.notify.catalogue import CHANNEL
from services.notify.public import FIELDS
from shared.events import REGISTRY
from shared.events.catalogue import asyncapi
from shared.names import integrator_group, integrator_stream

DOCUMENT = document("test")


def test_the_integrator_channel_names_the_stream_and_group_as_the_platform_does() -> None:
    redis = DOCUMENT["channels"][CHANNEL]["x-redis"]
    assert redis["key"].replace("<name>", "ngo-a") == integrator_stream("ngo-a")
    assert redis["group"].replace("<name>", "ngo-a") == integrator_group("ngo-a")
    operation = DOCUMENT["operations"][f"receive_{CHANNEL}"]
    assert operation["channel"] == {"$ref": f"#/channels/{CHANNEL}"}
    for step in ("XREADGROUP", "XACK", "XAUTOCLAIM", "(source, id)", "kept for 14 days"):
        assert step in operation["description"], step


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
