"""The event catalogue as an AsyncAPI 3 document, generated from the registry.

Channels are the streams; each message is one event type in its current version, with the
CloudEvents attributes as headers and the payload's JSON Schema. The document is served by
every service (``/asyncapi.json``) and committed as ``docs/asyncapi.json``.
"""

from typing import Any

from shared.events.registry import EventRegistry, dataschema
from shared.names import stream_tag

CLOUDEVENTS_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "dataschema"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "description": "UUIDv7; (source, id) deduplicates"},
        "source": {"type": "string", "description": "/safereturn/<service>"},
        "type": {"type": "string"},
        "subject": {"type": "string", "description": "pseudonymous case id, where relevant"},
        "time": {"type": "string", "format": "date-time", "description": "business time"},
        "datacontenttype": {"const": "application/json"},
        "dataschema": {"type": "string"},
        "traceparent": {"type": "string", "description": "W3C trace context"},
        "tracestate": {"type": "string"},
    },
}


def _message_name(event_type: str) -> str:
    return event_type.replace(".", "_")


def asyncapi(registry: EventRegistry, version: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for every event in ``registry``."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for model in registry:
        name = _message_name(model.event_type)
        headers = dict(CLOUDEVENTS_HEADERS)
        headers["properties"] = CLOUDEVENTS_HEADERS["properties"] | {
            "type": {"const": model.event_type},
            "dataschema": {"const": dataschema(model.event_type, model.version)},
        }
        messages[name] = {
            "name": model.event_type,
            "summary": (model.__doc__ or model.event_type).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": headers,
            "payload": model.model_json_schema(),
        }
        channel = channels.setdefault(
            stream_tag(model.stream), {"address": str(model.stream), "messages": {}}
        )
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    operations = {
        f"receive_{channel_id}": {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Read {channel['address']} with XREADGROUP in your own consumer group",
        }
        for channel_id, channel in channels.items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "SafeReturn events",
            "version": version,
            "description": (
                "CloudEvents 1.0 on Redis Streams: attributes are plain entry fields, "
                "`data` is the JSON payload. Events carry no personal data."
            ),
        },
        "defaultContentType": "application/json",
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {"messages": dict(sorted(messages.items()))},
    }
