"""The event catalogue as an AsyncAPI 3 document, generated from the registry.

Channels are the streams; each message is one event type in its current version, with the
CloudEvents attributes as headers and the payload's JSON Schema (the schemas' shared parts
under ``components/schemas``). The server is Redis, reached as a Redis ACL user. The whole
contract — code lists, inbound submissions, integrators' streams — is assembled by
``safereturn.contract`` and committed as ``docs/asyncapi.json``; each service serves the
platform's part and its own at ``/asyncapi.json``.
"""

from collections.abc import Callable
from typing import Any

from shared.events.base import EventPayload
from shared.events.registry import EventRegistry, dataschema
from shared.names import stream_tag

CLOUDEVENTS_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes, each a field of the stream entry",
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
        "signature": {
            "type": "string",
            "description": "the publishing service's Ed25519 signature over the other fields "
            "(shared/signing.py; public keys: SAFERETURN_EVENT_PUBLIC_KEYS)",
        },
    },
}
SECURITY_SCHEME = "redisAcl"
SERVER = {
    "host": "{host}:{port}",
    "protocol": "redis",
    "protocolVersion": "7",
    "description": "Redis 7 (a single server, or a Redis Cluster: every key carries a hash "
    "tag, so each stream is one slot). Streams are read with XREADGROUP in a consumer group.",
    "variables": {
        "host": {"default": "localhost", "description": "the deployment's Redis host"},
        "port": {"default": "6379"},
    },
    "security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}],
}
REDIS_BINDING: dict[str, Any] = {"redis": {}}  # the AsyncAPI Redis bindings define no fields (yet)

Schema = dict[str, Any]


def channel_id(stream: str) -> str:
    """``safereturn:{submissions}:rejected`` → ``submissions_rejected``."""
    suffix = stream[stream.index("}") + 1 :].replace(":", "_")
    return stream_tag(stream) + suffix


def message_name(event_type: str) -> str:
    return event_type.replace(".", "_")


def hoisted(schema: Schema, schemas: dict[str, Schema]) -> Schema:
    """``schema`` with its ``$defs`` moved to ``schemas`` (the document's
    ``components/schemas``) and its references pointed there; a name two schemas define
    differently is an error, not a silent overwrite."""
    schema = dict(schema)
    for name, found in schema.pop("$defs", {}).items():
        definition = _repointed(found)
        if schemas.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are called {name}")
    repointed: Schema = _repointed(schema)
    return repointed


def _repointed(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: value.replace("#/$defs/", "#/components/schemas/")
            if key == "$ref" and isinstance(value, str)
            else _repointed(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_repointed(item) for item in node]
    return node


def headers_for(event_type: str, schema_id: str, base: Schema = CLOUDEVENTS_HEADERS) -> Schema:
    headers = dict(base)
    headers["properties"] = base["properties"] | {
        "type": {"const": event_type},
        "dataschema": {"const": schema_id},
    }
    return headers


def with_channel(
    document: dict[str, Any],
    channel_id: str,
    channel: dict[str, Any],
    *,
    action: str,
    operation: dict[str, Any],
    messages: dict[str, Any],
    schemas: dict[str, Schema],
) -> dict[str, Any]:
    """``document`` with one more channel, its messages, the operation on it (``action``:
    send or receive) and the schemas its messages refer to."""
    channel = channel | {
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "bindings": REDIS_BINDING,
    }
    operation = {"action": action, "channel": {"$ref": f"#/channels/{channel_id}"}} | operation
    components = dict(document["components"])
    components["messages"] = dict(sorted((components["messages"] | messages).items()))
    components["schemas"] = dict(sorted((components["schemas"] | schemas).items()))
    operations = document["operations"] | {f"{action}_{channel_id}": operation | {
        "bindings": REDIS_BINDING
    }}  # fmt: skip
    return document | {
        "channels": dict(sorted((document["channels"] | {channel_id: channel}).items())),
        "operations": dict(sorted(operations.items())),
        "components": components,
    }


def asyncapi(
    registry: EventRegistry,
    version: str,
    payload: Callable[[type[EventPayload]], Schema] = lambda model: model.model_json_schema(),
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for every event in ``registry``; ``payload`` gives each
    event's JSON Schema (by default the model's own)."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Schema] = {}
    for model in registry:
        name = message_name(model.event_type)
        messages[name] = {
            "name": model.event_type,
            "summary": (model.__doc__ or model.event_type).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": headers_for(model.event_type, dataschema(model.event_type, model.version)),
            "payload": hoisted(payload(model), schemas),
            "bindings": REDIS_BINDING,
        }
        channel = channels.setdefault(
            channel_id(model.stream),
            {"address": str(model.stream), "messages": {}, "bindings": REDIS_BINDING},
        )
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    operations = {
        f"receive_{channel_id}": {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"The platform's services read {channel['address']}, each in its group",
            "bindings": REDIS_BINDING,
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
        "servers": {"redis": SERVER},
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "userPassword",
                    "description": "A Redis ACL user and its password (AUTH <user> <password>; "
                    "in a URL, redis://<user>:<password>@host:port). Each party has its own "
                    "user with only its keys: an integrator's may read its own stream alone "
                    "(`safereturn integrators add` prints it once).",
                }
            },
        },
    }
