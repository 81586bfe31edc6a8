"""CloudEvents 1.0 on a Redis stream entry: attributes as plain fields, ``data`` as JSON text.

Any Redis client can read an entry with XRANGE or XREADGROUP and get every attribute by name;
no FastStream envelope is involved.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.v1.event import CloudEvent

__all__ = ["CloudEvent", "EnvelopeError", "from_fields", "to_fields"]

SPECVERSION = "1.0"
JSON = "application/json"
DATA_FIELD = "data"
OPTIONAL_ATTRIBUTES = ("subject", "datacontenttype", "dataschema", "traceparent", "tracestate")


class EnvelopeError(ValueError):
    """A stream entry is not a valid CloudEvent; it can never be processed as it is."""


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as CloudEvents expects."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_fields(event: CloudEvent) -> dict[str, str]:
    """The stream entry for ``event``: one field per attribute, plus ``data``."""
    attributes = event.get_attributes()
    fields = {
        "specversion": attributes["specversion"],
        "id": attributes["id"],
        "source": attributes["source"],
        "type": attributes["type"],
        "time": format_time(attributes["time"]),
    }
    fields |= {name: str(attributes[name]) for name in OPTIONAL_ATTRIBUTES if attributes.get(name)}
    data = event.get_data()
    if data is not None:
        fields[DATA_FIELD] = data.decode() if isinstance(data, bytes) else str(data)
    return fields


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def from_fields(fields: Mapping[bytes, bytes] | Mapping[str, str]) -> CloudEvent:
    """Decode a stream entry; raises :class:`EnvelopeError` naming what is wrong."""
    try:
        decoded: dict[str, Any] = {_text(k): _text(v) for k, v in fields.items()}
    except UnicodeDecodeError as error:
        raise EnvelopeError("entry is not UTF-8 text") from error
    data = decoded.pop(DATA_FIELD, None)
    if decoded.get("specversion") != SPECVERSION:
        raise EnvelopeError(f"unsupported specversion {decoded.get('specversion')!r}")
    if "time" in decoded:
        try:
            decoded["time"] = datetime.fromisoformat(decoded["time"])
        except ValueError as error:
            raise EnvelopeError("attribute 'time' is not RFC 3339") from error
    else:
        raise EnvelopeError("attribute 'time' is missing")
    try:
        return CloudEvent(decoded, data)
    except BaseCloudEventException as error:
        raise EnvelopeError(f"invalid CloudEvent: {error}") from error
