"""Notify's addition to the event catalogue: the integrators' per-province public streams,
whose messages are the public views of case events (``services.notify.public``)."""

from typing import Any

from services.notify import public
from shared.events import REGISTRY
from shared.events.catalogue import CLOUDEVENTS_HEADERS
from shared.names import PUBLIC_STREAM_PREFIX

CHANNEL = "public"
ADDED = {
    "case_id": {"type": "string", "description": "pseudonymous case id"},
    "province": {"type": "string", "description": "2025 province code"},
    "ward": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "2025 commune code"},
}
AGE_BAND = {"enum": [band for _, band in public.AGE_BANDS] + ["unknown"],
            "description": "age on the reception date, in bands"}  # fmt: skip


def _payload(model: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    schema = model.model_json_schema()  # as the platform's catalogue gives it, $defs inside
    properties = dict(ADDED) | {name: schema["properties"][name] for name in fields}
    if model.event_type == "case.received":
        properties["age_band"] = AGE_BAND
    payload = {"type": "object", "required": ["case_id", "province"], "properties": properties}
    return payload | ({"$defs": schema["$defs"]} if "$defs" in schema else {})


def with_public_streams(document: dict[str, Any]) -> dict[str, Any]:
    """The platform's catalogue and the public streams integrators read."""
    messages: dict[str, Any] = {}
    for model in REGISTRY:
        fields = public.FIELDS.get(model.event_type)
        if fields is None:
            continue
        headers = dict(CLOUDEVENTS_HEADERS)
        headers["properties"] = CLOUDEVENTS_HEADERS["properties"] | {
            "type": {"const": model.event_type},
            "dataschema": {"const": public.DATASCHEMA},
        }
        messages[f"public_{model.event_type.replace('.', '_')}"] = {
            "name": f"public {model.event_type}",
            "summary": f"{model.event_type}, as integrators see it (no personal data)",
            "contentType": "application/json",
            "headers": headers,
            "payload": _payload(model, fields),
        }
    channel = {
        "address": f"{PUBLIC_STREAM_PREFIX}{{province}}}}",
        "description": (
            "One stream per 2025 province, published by notify through its outbox: the case "
            "events of cases whose person consented to information sharing, each as the same "
            "coded view a webhook carries (no names, ID numbers, contacts, exact ages, "
            "ethnicity or providers). The CloudEvents id and source are the original event's: "
            "deduplicate on them. Entries older than the platform's public stream retention "
            "(14 days by default) are trimmed, read or not. Read with XREADGROUP in your own "
            "consumer group; your Redis user may read your province's stream only."
        ),
        "parameters": {"province": {"description": "2025 province code, e.g. 11"}},
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
    }
    document = dict(document)
    document["channels"] = dict(document["channels"]) | {CHANNEL: channel}
    document["operations"] = dict(document["operations"]) | {
        f"receive_{CHANNEL}": {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{CHANNEL}"},
            "summary": "Integrators: read your province's public stream in your own group",
        }
    }
    components = dict(document["components"])
    components["messages"] = dict(components["messages"]) | messages
    document["components"] = components
    return document
