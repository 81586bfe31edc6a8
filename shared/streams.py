"""Reading stream entries with redis-py, typed (for tools, the demo and tests; services consume
through FastStream subscribers)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: its id and raw fields (None when deleted while still pending)."""

    id: str
    fields: Mapping[bytes, bytes] | None

    def text(self) -> dict[str, str]:
        return {k.decode(): v.decode(errors="replace") for k, v in (self.fields or {}).items()}


def entries(response: Any) -> list[Entry]:
    """Entries from an XRANGE / XREVRANGE / XREADGROUP reply of a client without decoding."""
    rows = cast("list[tuple[bytes, dict[bytes, bytes] | None]]", response or [])
    return [Entry(entry_id.decode(), fields) for entry_id, fields in rows]


async def read_range(
    redis: "Redis", stream: str, first: str = "-", last: str = "+", count: int | None = None
) -> list[Entry]:
    return entries(await redis.xrange(stream, min=first, max=last, count=count))
