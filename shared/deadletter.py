"""Dead letters: entries that failed too often, kept beside their stream with the reason.

A dead-letter entry is the original entry's fields plus ``dead_letter_*`` fields. Moving an
entry there and acknowledging it happen in one MULTI/EXEC (the two streams share a hash tag),
so an entry is never both lost and acknowledged. Replay puts the original fields back on the
original stream; consumers that already applied the event skip it through their inbox.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from shared.events.envelope import format_time
from shared.names import dead_letter_stream, is_dead_letter_stream
from shared.streams import read_range

FIELD_PREFIX = "dead_letter_"
REASON_LIMIT = 1_000


@dataclass(frozen=True, slots=True)
class Failure:
    """Why and where an entry failed, as recorded on the dead-letter stream."""

    stream: str
    entry_id: str
    group: str
    consumer: str
    deliveries: int
    error_type: str
    reason: str

    def fields(self) -> dict[str, str]:
        return {
            f"{FIELD_PREFIX}stream": self.stream,
            f"{FIELD_PREFIX}entry_id": self.entry_id,
            f"{FIELD_PREFIX}group": self.group,
            f"{FIELD_PREFIX}consumer": self.consumer,
            f"{FIELD_PREFIX}deliveries": str(self.deliveries),
            f"{FIELD_PREFIX}error_type": self.error_type,
            f"{FIELD_PREFIX}reason": self.reason[:REASON_LIMIT],
            f"{FIELD_PREFIX}at": format_time(datetime.now(UTC)),
        }


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One entry of a dead-letter stream."""

    dead_letter_stream: str
    id: str
    fields: dict[str, str]

    @property
    def original(self) -> dict[str, str]:
        return {k: v for k, v in self.fields.items() if not k.startswith(FIELD_PREFIX)}

    @property
    def failure(self) -> dict[str, str]:
        return {
            k.removeprefix(FIELD_PREFIX): v
            for k, v in self.fields.items()
            if k.startswith(FIELD_PREFIX)
        }


async def dead_letter(
    redis: "Redis", failure: Failure, original: Mapping[bytes, bytes] | None
) -> None:
    """Move one pending entry to the dead-letter stream and acknowledge it, atomically."""
    fields: dict[Any, Any] = {**(original or {}), **failure.fields()}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(dead_letter_stream(failure.stream), fields)
        pipe.xack(failure.stream, failure.group, failure.entry_id)
        await pipe.execute()


async def dead_letter_streams(redis: "Redis") -> list[str]:
    names = [key.decode() async for key in redis.scan_iter(match="*:dlq", _type="stream")]
    return sorted(name for name in names if is_dead_letter_stream(name))


async def list_dead_letters(redis: "Redis", stream: str | None = None) -> list[DeadLetter]:
    """Every dead letter, oldest first, of one dead-letter stream or of all of them."""
    streams = [stream] if stream else await dead_letter_streams(redis)
    letters: list[DeadLetter] = []
    for name in streams:
        letters += [DeadLetter(name, e.id, e.text()) for e in await read_range(redis, name)]
    return letters


async def find_dead_letter(redis: "Redis", entry_id: str) -> DeadLetter | None:
    for name in await dead_letter_streams(redis):
        for entry in await read_range(redis, name, entry_id, entry_id):
            return DeadLetter(name, entry.id, entry.text())
    return None


async def replay(redis: "Redis", letter: DeadLetter) -> str:
    """Put the original entry back on its stream and remove the dead letter; the new id."""
    stream = letter.fields[f"{FIELD_PREFIX}stream"]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(stream, dict[Any, Any](letter.original))
        pipe.xdel(letter.dead_letter_stream, letter.id)
        new_id, _ = await pipe.execute()
    return str(new_id.decode())
