"""Waiting until the platform has done everything it was asked (bounded), and reading the
state it is left in: pending entries, lag per consumer group, dead letters, outbox backlogs,
deliveries not yet sent. Read as an operator would: Redis, /metrics and notify's log."""

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from shared.events.envelope import from_fields
from shared.names import PREFIX, Service, is_dead_letter_stream, physical_streams
from tests.chaos.api import Api
from tests.local_platform import Platform

BACKLOG = re.compile(r"^safereturn_outbox_backlog(?:\{[^}]*\})? ([0-9.e+]+)$", re.MULTILINE)
ENDED = re.compile(r"^safereturn_notify_deliveries_ended\w*(?:\{[^}]*\})? ([0-9.e+]+)$",
                   re.MULTILINE)  # fmt: skip


@dataclass
class Backlog:
    """What is still to be done; empty when the platform is quiet."""

    groups: dict[str, dict[str, int]] = field(default_factory=dict)  # "stream group" → counts
    dead_letters: dict[str, int] = field(default_factory=dict)
    outboxes: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)  # status → 1 if any are left
    unreadable: list[str] = field(default_factory=list)
    deliveries_ended: float = 0.0  # notify's count: moves while a long backlog is worked off

    def busy(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        found |= {f"group {k}": v for k, v in self.groups.items() if any(v.values())}
        found |= {f"dead letters {k}": v for k, v in self.dead_letters.items() if v}
        found |= {f"outbox {k}": v for k, v in self.outboxes.items() if v}
        found |= {f"deliveries {k}": v for k, v in self.deliveries.items() if v}
        return found | {f"unreadable {u}": 1 for u in self.unreadable}


def _streams(client: redis.Redis) -> list[str]:
    names = [k.decode() for k in client.scan_iter(match=f"{PREFIX}:*", count=1000)]
    return sorted(n for n in names if client.type(n) == b"stream")


def _group_counts(client: redis.Redis, stream: str, group: dict[str, Any]) -> dict[str, int]:
    """Entries pending in the group, and entries not yet delivered to it (up to 1,000).

    Redis's own ``lag`` is not used: it is derived from ``entries-read``, which a restart from
    the AOF can leave wrong (seen on 7.0 after Redis was killed: a lag in the thousands with
    every entry delivered and acknowledged)."""
    delivered = group.get("last-delivered-id")
    after = f"({delivered.decode()}" if delivered else "-"
    behind: Any = client.xrange(stream, min=after, count=1000)
    return {"pending": int(group.get("pending", 0)), "lag": len(behind)}


def backlog(platform: Platform, operator: Api) -> Backlog:
    found = Backlog()
    client = platform.redis_client(socket_timeout=5)
    try:
        for stream in _streams(client):
            if is_dead_letter_stream(stream):
                found.dead_letters[stream] = int(client.xlen(stream))
                continue
            for group in client.xinfo_groups(stream):
                name = group["name"].decode()
                found.groups[f"{stream} {name}"] = _group_counts(client, stream, group)
    except redis.RedisError as error:
        found.unreadable.append(f"redis: {error}")
    finally:
        client.close()
    for process in platform.processes:
        try:
            text = httpx.get(f"{process.url}/metrics", timeout=5).text
            found.outboxes[process.name] = int(sum(float(v) for v in BACKLOG.findall(text)))
            found.deliveries_ended += sum(float(v) for v in ENDED.findall(text))
        except httpx.HTTPError as error:
            found.unreadable.append(f"{process.name}: {type(error).__name__}")
    for status in ("pending", "retrying", "sending", "failed"):  # any left? (a list of 1,000
        # every second kept notify busy serving it, slowing the mail it was waited for)
        answer = operator.get(Service.NOTIFY, "/v1/notifications",
                              params={"status": status, "limit": 1})  # fmt: skip
        found.deliveries[status] = len(answer.json().get("notifications", []))
    return found


def quiesce(platform: Platform, operator: Api, stall_s: float) -> tuple[Backlog, float]:
    """Poll until nothing is left to do, or nothing has moved for ``stall_s`` seconds (a
    full-size run's mail takes far longer than that, but never stands still); the last state
    and the wait."""
    started = time.monotonic()
    quiet_since: float | None = None
    seen, moved = None, started
    while True:
        state = backlog(platform, operator)
        now = time.monotonic()
        if not state.busy():
            quiet_since = quiet_since or now
            if now - quiet_since >= 3.0:  # quiet twice in a row, timers included
                return state, now - started
        else:
            quiet_since = None
        if (progress := (state.busy(), state.deliveries_ended)) != seen:
            seen, moved = progress, now
        if now - moved > stall_s:
            return state, now - started
        time.sleep(1.0)


def stream_events(platform: Platform, stream: str) -> list[dict[str, Any]]:
    """Every event left on a stream (on each partition of a split case stream), once each:
    type, id, subject, data, and the Redis stream it is on.

    An entry the outbox relay published again under the same id (it could not confirm the
    first on disk before Redis was killed) is the same event, which consumers drop by their
    inbox; an effect doubled by a service would carry a new id, and is counted."""
    client = platform.redis_client(socket_timeout=30)
    events: dict[str, dict[str, Any]] = {}
    try:
        for physical in physical_streams(stream, platform.case_partitions):
            for entry_id, fields in _entries(client, physical):
                event = from_fields(fields)
                events.setdefault(event.get_id(), {
                    "id": event.get_id(), "type": event.get_type(),
                    "subject": event.get_subject(), "entry": entry_id.decode(),
                    "data": json.loads(str(event.get_data())), "stream": physical,
                })  # fmt: skip
    finally:
        client.close()
    return list(events.values())


def _entries(client: redis.Redis, stream: str) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    start = "-"
    for _ in range(100_000):  # bounded: pages of 5,000
        page: Any = client.xrange(stream, min=start, count=5000)
        yield from page
        if len(page) < 5000:
            return
        start = f"({page[-1][0].decode()}"
