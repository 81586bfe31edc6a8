"""Keeping Redis bounded without losing an event or keeping deleted personal data.

- A consumed stream is trimmed (``XTRIM MINID``) below what every consumer group has
  acknowledged: for each group, up to its oldest pending entry, or up to and including its
  last-delivered entry when nothing is pending; the minimum over groups. An entry some group
  has not read or not acknowledged is never trimmed.
- A stream stats archives is trimmed only while stats' group exists: stats archives an event
  in the transaction that applies it and acknowledges the entry only after that commits, so
  stats' acknowledgement implies "archived" — the archive, not Redis, is then the record.
- Acknowledged entries younger than ``stream_keep_acknowledged_s`` stay (a replay window, and
  room for a service deployed a little later than the others).
- Dead-letter and rejected streams keep entries for a set age (``dead_letter_retention_s``,
  ``rejected_retention_s``), whoever has read them; so do the integrators' streams
  (``public_stream_retention_s``), found by their key pattern: no platform group reads them,
  and an integrator's group must not hold Redis memory hostage.
- Entries of streams that carry personal data are deleted once committed; the AOF still
  holds the XADD until it is rewritten, so after such deletions the AOF is rewritten
  (``BGREWRITEAOF``), at most once per ``aof_rewrite_interval_s``.

One replica does this per ``retention_interval_s``: a lease (``SET NX PX``) on a Redis key.
Two trims at once would still be safe (groups only move forward); the lease bounds the load.
"""

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import NoPermissionError, ResponseError

from shared import redis_connect
from shared.names import (
    ACKNOWLEDGED_STREAMS,
    AOF_REWRITE_MARK,
    AOF_REWRITE_THROTTLE,
    ARCHIVED_STREAMS,
    ARCHIVIST,
    INTEGRATOR_STREAM_PREFIX,
    PERSONAL_DATA_STREAMS,
    REJECTED_STREAMS,
    RETENTION_LEASE,
    consumer_group,
    dead_letter_stream,
    physical_streams,
)
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

StreamId = tuple[int, int]


def parse_id(entry_id: bytes | str) -> StreamId:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(entry_id: StreamId) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


async def acknowledged_boundary(
    redis: "Redis", stream: str, *, required_group: str | None = None
) -> StreamId | None:
    """The id below which every group has acknowledged every entry; None: trim nothing."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream
        return None
    names = {group["name"].decode() for group in groups}
    if not groups or (required_group is not None and required_group not in names):
        return None
    boundaries: list[StreamId] = []
    for group in groups:
        if group["pending"]:
            summary = await redis.xpending(stream, group["name"])
            boundaries.append(parse_id(summary["min"]))
        else:  # everything up to and including its last-delivered entry is acknowledged
            ms, seq = parse_id(group["last-delivered-id"])
            boundaries.append((ms, seq + 1))
    return min(boundaries)


async def trim_acknowledged(
    redis: "Redis", stream: str, *, required_group: str | None = None, keep_s: float = 0
) -> int:
    """Trim ``stream`` below what every group acknowledged (and ``keep_s`` ago); how many."""
    boundary = await acknowledged_boundary(redis, stream, required_group=required_group)
    if boundary is None:
        return 0
    if keep_s > 0:
        boundary = min(boundary, (int((time.time() - keep_s) * 1000), 0))
    trimmed: int = await redis.xtrim(stream, minid=format_id(boundary), approximate=False)
    return trimmed


async def trim_older_than(redis: "Redis", stream: str, age_s: float) -> int:
    """Trim entries added more than ``age_s`` seconds ago (ids are insertion times)."""
    oldest_kept = int((time.time() - age_s) * 1000)
    trimmed: int = await redis.xtrim(stream, minid=f"{oldest_kept}-0", approximate=False)
    return trimmed


@dataclass
class Retention:
    """The platform's retention rules, applied by whichever replica holds the lease."""

    redis: "Redis"
    owner: str
    interval_s: float
    acknowledged: Sequence[str]
    """Streams trimmed below what every group acknowledged."""
    required_groups: Mapping[str, str] = field(default_factory=dict)
    """Stream → group that must exist before it is trimmed (stats' group, on archived ones)."""
    aged: Mapping[str, float] = field(default_factory=dict)
    """Stream → age in seconds past which its entries go."""
    aged_patterns: Mapping[str, float] = field(default_factory=dict)
    """Key pattern (``SCAN MATCH``) → age in seconds past which the entries of every stream
    it matches go."""
    personal: Sequence[str] = ()
    """Streams whose deleted entries must also leave the AOF."""
    keep_s: float = 0
    aof_rewrite_interval_s: float = 3600
    on_trimmed: Callable[[str, int], None] | None = None

    @classmethod
    def of_platform(
        cls,
        redis: "Redis",
        owner: str,
        settings: ServiceSettings,
        on_trimmed: Callable[[str, int], None] | None = None,
    ) -> "Retention":
        """The platform's streams (the case stream's partitions each) with the retention its
        settings say."""

        def each(streams: Iterable[str]) -> list[str]:
            n = settings.case_stream_partitions
            return [physical for stream in streams for physical in physical_streams(stream, n)]

        aged = {dead_letter_stream(stream): settings.dead_letter_retention_s
                for stream in each(ACKNOWLEDGED_STREAMS)}  # fmt: skip
        aged |= dict.fromkeys(REJECTED_STREAMS, settings.rejected_retention_s)
        return cls(
            redis,
            owner,
            settings.retention_interval_s,
            acknowledged=each(ACKNOWLEDGED_STREAMS),
            required_groups=dict.fromkeys(each(ARCHIVED_STREAMS), consumer_group(ARCHIVIST)),
            aged=aged,
            aged_patterns={f"{INTEGRATOR_STREAM_PREFIX}*": settings.public_stream_retention_s},
            personal=[str(stream) for stream in PERSONAL_DATA_STREAMS],
            keep_s=settings.stream_keep_acknowledged_s,
            aof_rewrite_interval_s=settings.aof_rewrite_interval_s,
            on_trimmed=on_trimmed,
        )

    async def run(self) -> dict[str, int] | None:
        """Apply every rule if this replica holds the lease; entries trimmed per stream."""
        leased = await self.redis.set(
            RETENTION_LEASE, self.owner, nx=True, px=max(1, int(self.interval_s * 1000))
        )
        if not leased:
            return None
        trimmed: dict[str, int] = {}
        for stream in self.acknowledged:
            trimmed[stream] = await trim_acknowledged(
                self.redis, stream, required_group=self.required_groups.get(stream),
                keep_s=self.keep_s,
            )  # fmt: skip
        for stream, age_s in self.aged.items():
            trimmed[stream] = await trim_older_than(self.redis, stream, age_s)
        for pattern, age_s in self.aged_patterns.items():
            async for key in self.redis.scan_iter(match=pattern, _type="stream"):
                stream = _text(key)
                trimmed[stream] = await trim_older_than(self.redis, stream, age_s)
        for stream, count in trimmed.items():
            if count and self.on_trimmed is not None:
                self.on_trimmed(stream, count)
        if any(trimmed.values()):
            log.info("trimmed %s", {stream: n for stream, n in trimmed.items() if n})
        await self.rewrite_aof_after_deletions()
        return trimmed

    async def rewrite_aof_after_deletions(self) -> bool:
        """Rewrite the AOF if personal data changed since the last rewrite; whether it began.

        Deletions show as a change in the stream's length, last id or last deleted id."""
        marks = {stream: await self._mark(stream) for stream in self.personal}
        recorded = {
            _text(stream): _text(mark)
            for stream, mark in (await self.redis.hgetall(AOF_REWRITE_MARK)).items()
        }
        changed = {s: mark for s, mark in marks.items() if recorded.get(s, "absent") != mark}
        if not changed:
            return False
        throttle_ms = max(1, int(self.aof_rewrite_interval_s * 1000))
        if not await self.redis.set(AOF_REWRITE_THROTTLE, self.owner, nx=True, px=throttle_ms):
            return False
        try:
            await redis_connect.rewrite_aof(self.redis)
        except NoPermissionError:
            log.error("may not run BGREWRITEAOF: deleted personal data stays in the AOF until "
                      "Redis rewrites it by itself (docs/reliability.md)")  # fmt: skip
            return False
        except ResponseError as error:  # a rewrite already running may predate the deletions
            log.info("AOF rewrite not started (%s); trying again later", error)
            await self.redis.delete(AOF_REWRITE_THROTTLE)
            return False
        for stream, mark in changed.items():
            await self.redis.hset(AOF_REWRITE_MARK, stream, mark)
        log.info("AOF rewrite started after deletions from %s", ", ".join(changed))
        return True

    async def _mark(self, stream: str) -> str:
        try:
            info = await self.redis.xinfo_stream(stream)
        except ResponseError:  # no such stream (yet, or any more)
            return "absent"
        parts = ("length", "last-generated-id", "max-deleted-entry-id")  # the last: Redis 7+
        return ":".join(_text(info.get(part, "")) for part in parts)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
