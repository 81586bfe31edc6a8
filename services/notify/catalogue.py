"""Notify's part of the contract: the integrators' streams, whose messages are the public
views of case events (``services.notify.public``), and how to consume them."""

from collections.abc import Callable
from typing import Any

from services.notify import public
from shared.areas import province_codes
from shared.events import REGISTRY, EventPayload
from shared.events.catalogue import REDIS_BINDING, headers_for, hoisted, with_channel
from shared.names import INTEGRATOR_STREAM_PREFIX, PREFIX
from shared.redis_acl import INTEGRATOR_PREFIX
from shared.settings import ServiceSettings

CHANNEL = "integrator"
ADDED = {
    "case_id": {"type": "string", "description": "pseudonymous case id"},
    "province": {"type": "string", "enum": sorted(province_codes()),
                 "description": "2025 province code"},
    "ward": {"anyOf": [{"type": "string", "pattern": "^[0-9]{5}$"}, {"type": "null"}],
             "description": "2025 commune code"},
}  # fmt: skip
AGE_BAND = {"enum": [band for _, band in public.AGE_BANDS] + ["unknown"],
            "description": "age on the reception date, in bands"}  # fmt: skip
RETENTION_DAYS = round(ServiceSettings.model_fields["public_stream_retention_s"].default / 86_400)
RECIPE = f"""\
How to consume your stream, in any language with a Redis client:

1. Connect as your Redis user (`{INTEGRATOR_PREFIX}<name>`, password printed once by
   `safereturn integrators add`); it may read your stream and nothing else.
2. Your stream `{INTEGRATOR_STREAM_PREFIX}<name>}}` and your group
   `{PREFIX}.integrator.<name>` exist from the start (the group from the stream's first entry).
   Join it by reading: `XREADGROUP GROUP {PREFIX}.integrator.<name> <consumer>
   COUNT 100 BLOCK 5000 STREAMS {INTEGRATOR_STREAM_PREFIX}<name>}} >`; give each of your
   processes its own consumer name. (`XGROUP CREATE <stream> <group> 0 MKSTREAM` is allowed
   on your stream, and answers BUSYGROUP when the group exists.)
3. Each entry is one CloudEvent: its attributes are the entry's fields (`specversion`,
   `id`, `source`, `type`, `subject`, `time`, `datacontenttype`, `dataschema`, `signature`),
   `data` is the JSON payload of the message named `public_<type>`. Ignore types you do not
   know (new ones may be added).
4. Deduplicate on `(source, id)`: an entry can appear twice (a publisher crash between
   writing and recording it), always with the same `source` and `id`. Keep the pairs you
   processed at least as long as entries are kept (below).
5. Process, then `XACK <stream> <group> <entry-id>`. An entry read but not acknowledged stays
   pending in your group.
6. On start, and every minute or so, take back what a crashed consumer left pending:
   `XAUTOCLAIM <stream> <group> <consumer> 60000 0-0 COUNT 100` (entries idle for a minute),
   process and acknowledge them the same way.
7. Entries are kept for {RETENTION_DAYS} days, read or not, unless the operator set another
   retention (`SAFERETURN_PUBLIC_STREAM_RETENTION_S`): a consumer away longer misses what was
   trimmed.
8. To check an entry came from the platform, verify `signature` (Ed25519 over the other
   fields, `shared/signing.py`) with notify's public key, which the operator gives you (the
   `notify` key of the platform's `event-public-keys.json`; it is not secret).

You get only cases whose person consented to sharing information, only in your area (your
province, or every province if you are national), only the event types you were given, and
only coded facts: no names, ID numbers, contacts, exact ages, ethnicity or providers."""


def _payload(schema: dict[str, Any], event_type: str, fields: tuple[str, ...]) -> dict[str, Any]:
    properties = dict(ADDED) | {name: schema["properties"][name] for name in fields}
    if event_type == "case.received":
        properties["age_band"] = AGE_BAND
    payload = {"type": "object", "required": ["case_id", "province"], "properties": properties}
    return payload | ({"$defs": schema["$defs"]} if "$defs" in schema else {})


def with_integrator_streams(
    document: dict[str, Any],
    payload: Callable[[type[EventPayload]], dict[str, Any]] = lambda model: (
        model.model_json_schema()
    ),
) -> dict[str, Any]:
    """``document`` with the integrators' streams; ``payload`` gives an event's schema (the
    whole contract's has the code lists: ``safereturn.contract``)."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for model in REGISTRY:
        fields = public.FIELDS.get(model.event_type)
        if fields is None:
            continue
        messages[f"public_{model.event_type.replace('.', '_')}"] = {
            "name": f"public {model.event_type}",
            "summary": f"{model.event_type}, as integrators see it (no personal data)",
            "contentType": "application/json",
            "headers": headers_for(model.event_type, public.DATASCHEMA),
            "payload": hoisted(_payload(payload(model), model.event_type, fields), schemas),
            "bindings": REDIS_BINDING,
        }
    channel = {
        "address": None,  # one per integrator: its key is in x-redis (the hash tag's braces
        # would read as an AsyncAPI parameter)
        "title": "An integrator's stream",
        "x-redis": {
            "type": "stream",
            "key": f"{INTEGRATOR_STREAM_PREFIX}<name>}}",
            "group": f"{PREFIX}.integrator.<name>",
            "user": f"{INTEGRATOR_PREFIX}<name>",
            "retentionDays": RETENTION_DAYS,
        },
        "description": (
            "One stream per integrator, published by notify through its outbox: the case "
            "events of cases whose person consented to information sharing, in the "
            "integrator's area, of the types it was given, each as the coded view a webhook "
            "carries. The CloudEvents id and source are the original event's.\n\n" + RECIPE
        ),
    }
    operation = {
        "summary": "Integrators: read your stream through your group (see the channel)",
        "description": RECIPE,
    }
    return with_channel(document, CHANNEL, channel, action="receive", operation=operation,
                        messages=messages, schemas=schemas)  # fmt: skip
