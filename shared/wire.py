"""FastStream ↔ the CloudEvents wire format (plain fields per stream entry)."""

from typing import Any

from faststream.redis.parser.binary import BinaryMessageFormatV1
from typing_extensions import override

from shared.events.envelope import DATA_FIELD

EMPTY_BODY = b"null"


class CloudEventsFormat(BinaryMessageFormatV1):
    """Reads entries whose fields are CloudEvents attributes; never raises.

    FastStream hands ``parse`` the entry's field dict (or its JSON) when there is no
    ``__data__`` field. The attributes become headers, so ``message_id`` is the CloudEvents
    ``id`` on every delivery and the telemetry middleware finds ``traceparent``. Entries
    written by FastStream itself still go through its binary format. Whether an entry is a
    valid event is decided later, where a bad one can be retried and dead-lettered.
    """

    @classmethod
    @override
    def parse(cls, data: Any) -> tuple[bytes, dict[str, Any]]:
        if isinstance(data, dict):
            fields = {_text(k): v for k, v in data.items()}
            fields.pop(DATA_FIELD, None)
            headers: dict[str, Any] = {k: _text(v) for k, v in fields.items()}
            if "id" in headers:
                headers.setdefault("message_id", headers["id"])
                headers.setdefault("correlation_id", headers["id"])
            # The consumer decodes ``data`` from the raw entry itself. Handing FastStream the
            # bytes would make its batch parser JSON-encode them, which fails on non-UTF-8
            # input before any handler runs, so the entry could never be dead-lettered.
            return EMPTY_BODY, headers
        try:
            return super().parse(data)
        except Exception:
            return bytes(data) if isinstance(data, bytes | bytearray) else b"", {}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
