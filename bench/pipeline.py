"""The pipeline draining a backlog, against a raw redis-py relay chain of as many hops.

The consumers are stopped while intake takes a burst of reports; started again, they work the
backlog off, and every event each consumer group reads counts. The baseline relays the same
entries (real events, as the platform wrote them) through a chain of processes, each reading
a batch (XREADGROUP), appending it to the next stream in one pipeline (XADD) and
acknowledging it (XACK): what Redis and redis-py alone can do with as many hops."""

import multiprocessing
import time
from typing import Any

import redis

from shared.names import PREFIX, is_dead_letter_stream

RELAY = "bench-relay"
POLL_S = 0.05
BATCH = 500  # entries a relay reads at once, as the platform's consumers do (batch_size)


def groups(client: redis.Redis) -> dict[str, dict[str, int]]:
    """Every consumer group of the platform's streams: entries read, lag and pending."""
    found: dict[str, dict[str, int]] = {}
    for key in client.scan_iter(match=f"{PREFIX}:*", count=1000, _type="stream"):
        stream = key.decode()
        if is_dead_letter_stream(stream):
            continue
        for group in client.xinfo_groups(stream):
            found[f"{stream} {group['name'].decode()}"] = {
                "read": int(group.get("entries-read") or 0),
                "behind": int(group.get("lag") or 0) + int(group["pending"]),
            }
    return found


def behind(client: redis.Redis) -> int:
    """Entries not yet read or not yet acknowledged, over every group."""
    return sum(g["behind"] for g in groups(client).values())


def wait_until_caught_up(client: redis.Redis, timeout_s: float) -> float:
    """Poll until every group has read and acknowledged everything (twice in a row, as an
    outbox may still publish what a consumer just made); when that first was (monotonic)."""
    deadline = time.monotonic() + timeout_s
    first_quiet: float | None = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if all(g["behind"] == 0 for g in groups(client).values()):
            if first_quiet is not None and now - first_quiet >= 10 * POLL_S:
                return first_quiet
            first_quiet = first_quiet or now
        else:
            first_quiet = None
        time.sleep(POLL_S)
    raise TimeoutError(f"the consumers did not catch up within {timeout_s:.0f} s")


def wait_until_reading(
    client: redis.Redis, before: dict[str, dict[str, int]], timeout_s: float
) -> float:
    """Poll until some consumer group has read beyond ``before``: when (monotonic)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if consumed(before, groups(client)) > 0:
            return time.monotonic()
        time.sleep(POLL_S / 5)
    raise TimeoutError(f"no consumer read anything within {timeout_s:.0f} s")


def consumed(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> int:
    return sum(g["read"] - before.get(name, {"read": 0})["read"] for name, g in after.items())


def sample(client: redis.Redis, count: int) -> list[dict[bytes, bytes]]:
    """Real events as the platform wrote them, ``count`` of them (repeated if need be)."""
    found: list[dict[bytes, bytes]] = []
    for key in client.scan_iter(match=f"{PREFIX}:*", count=1000, _type="stream"):
        if not is_dead_letter_stream(key.decode()):
            entries: Any = client.xrange(key, count=count)
            found += [fields for _, fields in entries]
    if not found:
        raise RuntimeError("no events to relay")
    return [found[i % len(found)] for i in range(count)]


def _hop(url: str, source: str, target: str | None, count: int, go: Any) -> None:
    client = redis.Redis.from_url(url)
    client.ping()
    go.wait()
    moved = 0
    while moved < count:
        got: Any = client.xreadgroup(RELAY, "relay", {source: ">"}, count=BATCH, block=1000)
        for _, entries in got or []:
            pipe = client.pipeline(transaction=False)
            if target is not None:
                for _, fields in entries:
                    pipe.xadd(target, fields)
            pipe.xack(source, RELAY, *(entry_id for entry_id, _ in entries))
            pipe.execute()
            moved += len(entries)
    client.close()


def relay_chain(url: str, events: list[dict[bytes, bytes]], hops: int) -> float:
    """Events relayed per second through ``hops`` processes in a chain (each event counts once
    per hop, as each consumer group's read does in the platform)."""
    client = redis.Redis.from_url(url)
    streams = [f"{RELAY}:{i}" for i in range(hops + 1)]
    try:
        client.delete(*streams)
        for stream in streams[:-1]:
            client.xgroup_create(stream, RELAY, id="0", mkstream=True)
        pipe = client.pipeline(transaction=False)
        for fields in events:
            pipe.xadd(streams[0], fields)  # type: ignore[arg-type]
        pipe.execute()
        context = multiprocessing.get_context("spawn")
        go = context.Event()
        relays = [context.Process(target=_hop, args=(url, streams[i], streams[i + 1]
                                                     if i + 1 < hops else None, len(events), go))
                  for i in range(hops)]  # fmt: skip
        for relay in relays:
            relay.start()
        time.sleep(2.0)  # every relay connected and waiting
        started = time.monotonic()
        go.set()
        for relay in relays:
            relay.join()
        elapsed = time.monotonic() - started
        if any(relay.exitcode for relay in relays):
            raise RuntimeError("a relay failed")
        return len(events) * hops / elapsed
    finally:
        client.delete(*streams)
        client.close()
