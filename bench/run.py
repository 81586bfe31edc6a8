"""One benchmark run on a database kind: each part measures a figure and its baseline on this
machine, one after the other (never two at once: they would share the cores)."""

import asyncio
import contextlib
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench import history, intake, pipeline
from bench.data import Reports
from bench.drive import Calls
from bench.figures import Figure, percentile, row
from bench.platforms import bare_endpoint, platform, rss_mb, token
from shared.names import Service
from tests.local_platform import Platform, Process, scratch_databases

Say = Callable[[str], None]
CONSUMERS = (Service.VERIFICATION, Service.SUPPORT, Service.NOTIFY, Service.STATS)
PARTS = ("intake", "steady", "pipeline", "history", "memory", "replicas")
REPLICATED = {service: 2 for service in (Service.INTAKE, *CONSUMERS)}


@dataclass(frozen=True)
class Size:
    name: str
    reports: int  # the burst at a fixed concurrency
    concurrency: int
    rate: float  # the steady run: reports a second, for how long
    seconds: float
    backlog: int  # reports waiting for the consumers
    history: tuple[int, ...]  # cases in stats' database when the form is timed

    @classmethod
    def named(cls, name: str) -> "Size":
        sizes = {
            "smoke": cls(
                "smoke",
                reports=64,
                concurrency=32,
                rate=5,
                seconds=4,
                backlog=40,
                history=(300, 1000),
            ),
            "full": cls(
                "full",
                reports=2000,
                concurrency=32,
                rate=100,
                seconds=300,
                backlog=3000,
                history=(10_000, 100_000, 1_000_000),
            ),
        }
        return sizes[name]


@contextlib.contextmanager
def _bare_database(kind: str, folder: Path, postgres: str | None) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'bare.db'}"
    else:
        assert postgres is not None
        with scratch_databases(postgres, ["bare"]) as (url,):
            yield url


class Run:
    """The parts asked for on ``sqlite`` or ``postgresql`` (on the server given)."""

    def __init__(self, kind: str, size: Size, say: Say, postgres: str | None = None) -> None:
        self.kind, self.size, self.say, self.postgres = kind, size, say, postgres
        self.reports = Reports(seed=15, run=secrets.token_hex(3))
        self.burst = intake.bodies(self.reports, size.reports)
        self.bare = Calls()
        self.bare_read_p95 = 0.0  # ms
        self.bare_rss = 0.0

    def figures(self, parts: tuple[str, ...]) -> list[Figure]:
        found: list[Figure] = []
        with tempfile.TemporaryDirectory(prefix=f"bench-{self.kind}-") as name:
            folder = Path(name)
            self._bare(folder)
            with platform(self.kind, folder / "platform", self.postgres) as started:
                self.say(f"{self.kind}: the platform is up ({len(started.processes)} processes)")
                tokens = token(started, "reporter"), token(started, "analyst")
                if "intake" in parts:
                    found += self._shown(self._intake(started, tokens[0]))
                if "steady" in parts:
                    found += self._shown(self._steady(started, tokens))
                if "pipeline" in parts:
                    found += self._shown(self._pipeline(started, tokens[0]))
                if "history" in parts:
                    found += self._shown(self._history(started, tokens[1]))
                if "memory" in parts:
                    found += self._shown(self._memory(started))
            if "replicas" in parts and self.kind == "postgresql":
                found += self._shown(self._replicas(folder))
        return found

    def _shown(self, figures: list[Figure]) -> list[Figure]:
        """The figures, each printed as soon as it is measured (a long run shows them as it
        goes, and keeps them if a later part fails)."""
        for figure in figures:
            self.say(row(figure))
        return figures

    def _bare(self, folder: Path) -> None:
        size = self.size
        self.say(f"{self.kind}: the bare endpoint, {size.reports} bodies at {size.concurrency}")
        with (
            _bare_database(self.kind, folder, self.postgres) as url,
            bare_endpoint(url, folder) as (bare, pid),
        ):
            asyncio.run(intake.burst([bare], "/bodies", None, self.burst[:50], size.concurrency))
            self.bare = asyncio.run(intake.burst([bare], "/bodies", None, self.burst,
                                                 size.concurrency))  # fmt: skip
            self.bare_rss = rss_mb(pid)
            reads = asyncio.run(intake.reads(bare, size.reports))
            self.bare_read_p95 = percentile(reads.latencies, 95) * 1000

    def _intake(self, started: Platform, reporter: str) -> list[Figure]:
        size = self.size
        self.say(f"{self.kind}: intake, {size.reports} reports at {size.concurrency}")
        calls = self._burst(started.urls(Service.INTAKE), reporter, self.burst)
        return intake.throughput_figures(self.kind, calls, self.bare, size.concurrency)

    def _burst(self, urls: list[str], reporter: str, sent: list[dict[str, Any]]) -> Calls:
        """A warm-up, then ``sent`` at the size's concurrency."""
        warm = intake.bodies(self.reports, 50)
        concurrency = self.size.concurrency
        asyncio.run(intake.burst(urls, "/v1/reports", reporter, warm, concurrency))
        return asyncio.run(intake.burst(urls, "/v1/reports", reporter, sent, concurrency))

    def _steady(self, started: Platform, tokens: tuple[str, str]) -> list[Figure]:
        size = self.size
        self.say(f"{self.kind}: {size.rate:g} reports/s for {size.seconds:g} s, each followed "
                 f"to statistics")  # fmt: skip
        sent = intake.bodies(self.reports, int(size.rate * size.seconds))
        urls = started.urls(Service.INTAKE)[0], started.urls(Service.STATS)[0]
        client = redis.Redis.from_url(started.redis_url)
        try:
            pipeline.wait_until_caught_up(client, 600)
            before = pipeline.behind(client)
            calls, reflected = asyncio.run(
                intake.steady(urls, tokens, sent, rate=size.rate, seconds=size.seconds)
            )
            after = pipeline.behind(client)
        finally:
            client.close()
        bare_p50 = percentile(self.bare.latencies, 50) * 1000
        return intake.steady_figures(self.kind, calls, reflected, rate=size.rate,
                                     lag=(before, after), bare_p50=bare_p50)  # fmt: skip

    def _pipeline(self, started: Platform, reporter: str) -> list[Figure]:
        rate, read, alone = self._drain(started, started.processes, reporter)
        hops = max(1, round(read / self.size.backlog))
        self.say(f"{self.kind}: the raw chain, {hops} hops")
        client = redis.Redis.from_url(started.redis_url)
        try:
            events = pipeline.sample(client, self.size.backlog)
        finally:
            client.close()
        raw = pipeline.relay_chain(started.redis_url, events, hops)
        name = f"pipeline events/s draining {self.size.backlog} reports ({self.kind})"
        return [
            *intake.alone_figures(self.kind, alone, self.bare, self.size.concurrency),
            Figure(name, rate, "/s", raw, f"raw relay chain, {hops} hops"),
        ]

    def _drain(
        self, started: Platform, running: list[Process], reporter: str
    ) -> tuple[float, int, Calls]:
        """Events read a second by the ``running`` consumers working off a backlog of reports
        (taken by intake while they were stopped), how many they read, and intake's calls."""
        size, kind = self.size, self.kind
        client = redis.Redis.from_url(started.redis_url)
        try:
            pipeline.wait_until_caught_up(client, 600)
            consumers = [p for p in running if p.service in CONSUMERS]
            for process in consumers:
                started.stop_process(process)
            self.say(f"{kind}: {len(consumers)} consumers stopped; {size.backlog} reports wait")
            backlog = intake.bodies(self.reports, size.backlog)
            alone = asyncio.run(intake.burst(started.urls(Service.INTAKE), "/v1/reports",
                                             reporter, backlog, size.concurrency))  # fmt: skip
            time.sleep(2.0)  # intake's outbox relay publishes the last of them
            before = pipeline.groups(client)
            for process in consumers:
                started.start(process)
            began = pipeline.wait_until_reading(client, before, 120)  # the clock starts here
            done = pipeline.wait_until_caught_up(client, 3600)
            for process in consumers:
                started.wait_ready(process)
            read = pipeline.consumed(before, pipeline.groups(client))
        finally:
            client.close()
        self.say(f"{kind}: {read} events read in {done - began:.1f} s")
        return read / (done - began), read, alone

    def _replicas(self, folder: Path) -> list[Figure]:
        """Two replicas of intake and of every consumer against one, on one platform (the
        second replicas stopped for the first measurement)."""
        kind = self.kind
        with platform(kind, folder / "replicas", self.postgres, REPLICATED) as started:
            reporter = token(started, "reporter")
            first = [p for p in started.processes if "-" not in p.name]
            seconds = [p for p in started.processes if "-" in p.name]
            for process in seconds:
                started.stop_process(process)
            self.say(f"{kind}: one replica of each service")
            one = self._burst(started.urls(Service.INTAKE)[:1], reporter, self.burst)
            one_drain, _, _ = self._drain(started, first, reporter)
            for process in seconds:
                started.start(process)
            for process in seconds:
                started.wait_ready(process)
            self.say(f"{kind}: two replicas of each service")
            two = self._burst(started.urls(Service.INTAKE), reporter,
                              intake.bodies(self.reports, self.size.reports))  # fmt: skip
            two_drain, _, _ = self._drain(started, started.processes, reporter)
        return [
            Figure(f"intake reports/s, 2 replicas ({kind})", two.rate, "/s", one.rate,
                   "1 replica", "≥ 1.7x", two.rate >= 1.7 * one.rate),
            Figure(f"pipeline events/s, 2 replicas of each consumer ({kind})", two_drain, "/s",
                   one_drain, "1 replica", "≥ 1.7x", two_drain >= 1.7 * one_drain),
        ]  # fmt: skip

    def _history(self, started: Platform, analyst: str) -> list[Figure]:
        latencies, loaded = {}, 0
        for size in self.size.history:
            self.say(f"{self.kind}: stats with {size:,} cases")
            events = asyncio.run(history.load(loaded, size - loaded, seed=size))
            loaded = size
            self.say(f"{self.kind}: … {events:,} events loaded; timing the form")
            latencies[size] = history.form_latencies(started.urls(Service.STATS)[0], analyst)
        figures = history.form_figures(self.kind, latencies, self.bare_read_p95)
        self.say(f"{self.kind}: rebuilding stats' projections from its archive")
        return [*figures, history.rebuild_figure(self.kind, started.redis_url)]

    def _memory(self, started: Platform) -> list[Figure]:
        found = []
        for process in started.processes:
            if process.popen is not None and process.alive():
                rss = rss_mb(process.popen.pid)
                name = f"{process.name} RSS ({self.kind})"
                found.append(Figure(name, rss, "MB", self.bare_rss, "bare endpoint", "< 150 MB",
                                    rss < 150))  # fmt: skip
        return found
