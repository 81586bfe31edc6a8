"""Statistics as history grows: the form's latency at 10k, 100k and 1M cases, and a rebuild of
every projection from the archive.

Ten years of cases are loaded straight into the running stats service's database through its
own code — archived, projected and summed as its consumer does it, in large transactions — so
millions of events take minutes, not the days the whole platform would. An analyst then asks
for the form over HTTP: national, a province and a commune; a quarter and a year."""

import asyncio
import json
import random
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import redis
from sqlalchemy import insert, text

from bench.figures import Figure, percentile
from safereturn import admin
from services.intake.reports import catalogues
from services.stats import store, tallies
from services.stats.domain import KINDS
from shared.db import Database
from shared.names import Service
from tests.services.stats.deliveries import (
    Sent,
    archive_row,
    consent,
    disbursed,
    granted,
    identified,
    merged,
    ordered,
    received,
    sent,
)

YEARS = range(2016, 2026)
QUERIES = {"quarter": "2025-Q3", "year": "2025"}
ASKED = 20  # requests per area and period, after one to warm up
LOAD_BATCH = 5000  # events per transaction
LOAD_CACHE_KB = 2_000_000
"""SQLite's page cache for the loader: SQLite's 2 MB default made a million cases' load
crawl once the archive's indexes outgrew it (about 750 events/s past 2 GB)."""
PROVINCE, WARD = "11", "03325"  # where every tenth case is: a busy commune


def cases(first: int, count: int, rng: random.Random) -> Iterator[Sent]:
    """The events of cases ``first`` … ``first + count - 1``: received over ten years, most
    identified, some helped (on several days), protected, paid, a few merged."""
    every = sorted(catalogues.wards().items())
    wards = [(province, ward) for ward, province in every[:: len(every) // 40]] + [(PROVINCE, None)]
    for i in range(first, first + count):
        case_id = f"bench-{i:08d}"
        day = date(rng.choice(YEARS), 1, 1) + timedelta(days=rng.randrange(365))
        province, ward = (PROVINCE, WARD) if i % 10 == 0 else rng.choice(wards)
        person = {"sex": rng.choice(("female", "female", "male")), "age": rng.randrange(12, 60),
                  "consent": consent(rng.random() < 0.9)}  # fmt: skip
        yield sent(received(case_id, received_on=day, province=province, ward=ward, **person))
        if rng.random() < 0.7:
            yield sent(identified(case_id, day + timedelta(days=rng.randrange(1, 60))))
        for g in range(rng.choice((0, 0, 1, 2, 3))):
            kind, on = rng.choice(KINDS), day + timedelta(days=rng.randrange(1, 120))
            yield sent(granted(case_id, f"{case_id}-g{g}", kind, on))
            if rng.random() < 0.5:
                yield sent(disbursed(case_id, f"{case_id}-g{g}", f"{case_id}-d{g}", kind,
                                     500_000, on + timedelta(days=3)))  # fmt: skip
        if rng.random() < 0.1:
            yield sent(ordered(case_id, f"{case_id}-o", day + timedelta(days=5), 1, 2))
        if i > first and rng.random() < 0.02:
            yield sent(merged(case_id, into=f"bench-{i - 1:08d}"))


async def load(first: int, count: int, seed: int) -> int:
    """Cases loaded into the stats database (the platform's settings): how many events."""
    rng = random.Random(seed)
    events, batch = 0, []
    async with admin.database_of(Service.STATS, migrate=False) as database:
        for event in cases(first, count, rng):
            batch.append(event)
            if len(batch) >= LOAD_BATCH:
                events += await _load(database, batch)
                batch = []
        events += await _load(database, batch)
    return events


async def _load(database: Database, batch: list[Sent]) -> int:
    """One transaction: the events archived in one statement (every id is new), then projected
    and summed together as the consumer does a batch."""
    rows = [archive_row(event) for event in batch]
    async with database.transaction() as session:
        if database.engine.dialect.name == "sqlite":  # the indexes of millions of random ids
            await session.execute(text(f"PRAGMA cache_size = -{LOAD_CACHE_KB}"))
        await session.execute(insert(store.archive), rows)
        await tallies.project(session, [row["envelope"] for row in rows])
    return len(batch)


def form_latencies(url: str, token: str) -> dict[tuple[str, str], list[float]]:
    """Seconds per answer, by area and period."""
    areas = {"national": {}, "province": {"province": PROVINCE},
             "commune": {"province": PROVINCE, "ward": WARD}}  # fmt: skip
    found: dict[tuple[str, str], list[float]] = {}
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        for area, where in areas.items():
            for name, period in QUERIES.items():
                params = {"period": period, **where}
                times = []
                for _ in range(ASKED + 1):
                    started = time.perf_counter()
                    client.get(f"{url}/v1/reports/victim-support", params=params).raise_for_status()
                    times.append(time.perf_counter() - started)
                found[area, name] = times[1:]
    return found


def form_figures(kind: str, sizes: dict[int, dict[tuple[str, str], list[float]]],
                 bare_p95: float) -> list[Figure]:  # fmt: skip
    figures = []
    for size, latencies in sizes.items():
        for (area, period), times in latencies.items():
            p95 = percentile(times, 95) * 1000
            figures.append(Figure(f"stats form p95, {area} {period}, {size:,} cases ({kind})",
                                  p95, "ms", bare_p95, "bare one-row read p95", "≤ 50 ms",
                                  p95 <= 50))  # fmt: skip
    smallest, largest = min(sizes), max(sizes)
    for area, period in sizes[largest]:
        grown = percentile(sizes[largest][area, period], 50)
        before = percentile(sizes[smallest][area, period], 50)
        figures.append(Figure(
            f"stats form p50 at {largest:,} cases against {smallest:,}, {area} {period} ({kind})",
            grown * 1000, "ms", before * 1000, f"{smallest:,} cases", "no growth (≤ 1.5x)",
            grown <= 1.5 * before,
        ))  # fmt: skip
    return figures


def rebuild_figure(kind: str, redis_url: str) -> Figure:
    """``safereturn stats rebuild``, against reading as many events from a stream (XRANGE)
    and decoding them."""
    started = time.perf_counter()
    count = asyncio.run(admin.rebuild_stats(lambda _: None))
    rate = count / (time.perf_counter() - started)
    raw = _raw_read(redis_url, count)
    return Figure(f"rebuild events/s, {count:,} events ({kind})", rate, "/s", raw,
                  "raw XRANGE + JSON decode", "≥ 50,000/s and ≥ 0.3x",
                  rate >= 50_000 and rate >= 0.3 * raw)  # fmt: skip


def _raw_read(url: str, count: int) -> float:
    """Events a second read from a stream in pages of 1,000 and decoded from JSON."""
    client = redis.Redis.from_url(url)
    stream = "bench-rebuild"
    body = json.dumps({"specversion": "1.0", "id": "x" * 36, "type": "case.received",
                       "data": {"case_id": "x" * 36, "received_on": "2025-01-01",
                                "province": "11", "ward": "03325", "sex": "female"}})  # fmt: skip
    try:
        client.delete(stream)
        for start in range(0, count, 10_000):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(10_000, count - start)):
                pipe.xadd(stream, {"data": body})
            pipe.execute()
        started, after, read = time.perf_counter(), "-", 0
        while read < count:
            page: Any = client.xrange(stream, min=after, count=1000)
            if not page:
                break
            for _, fields in page:
                json.loads(fields[b"data"])
            read += len(page)
            after = f"({page[-1][0].decode()}"
        return read / (time.perf_counter() - started)
    finally:
        client.delete(stream)
        client.close()
