"""Driving HTTP calls: as many as possible at a fixed concurrency, or at a steady rate.

At a steady rate each call's latency counts from when it was due, not from when it was sent,
so a server that falls behind shows it in the figures (no coordinated omission)."""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
"""One call: the client to use and the call's number (0, 1, …)."""


@dataclass
class Calls:
    latencies: list[float] = field(default_factory=list)  # seconds, answered calls only
    statuses: Counter[int] = field(default_factory=Counter)
    started: float = 0.0  # monotonic
    elapsed: float = 0.0
    answers: dict[int, httpx.Response] = field(default_factory=dict)  # by call number
    at: dict[int, float] = field(default_factory=dict)  # when each answer came (monotonic)

    @property
    def accepted(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0

    def failed(self) -> list[str]:
        """What went wrong, one line per kind (empty if every call was answered 2xx)."""
        return [f"{n} answered {status}" for status, n in sorted(self.statuses.items())
                if not 200 <= status < 300]  # fmt: skip


def client(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120.0))


async def _call(http: httpx.AsyncClient, send: Send, index: int, due: float, calls: Calls) -> None:
    try:
        answer = await send(http, index)
    except httpx.HTTPError:
        calls.statuses[0] += 1  # no answer
        return
    now = time.monotonic()
    calls.latencies.append(now - due)
    calls.statuses[answer.status_code] += 1
    calls.answers[index], calls.at[index] = answer, now


async def at_concurrency(send: Send, count: int, concurrency: int) -> Calls:
    """``count`` calls, ``concurrency`` of them in flight at any time."""
    calls = Calls()
    numbers = iter(range(count))
    async with client(concurrency) as http:

        async def worker() -> None:
            for index in numbers:
                await _call(http, send, index, time.monotonic(), calls)

        calls.started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        calls.elapsed = time.monotonic() - calls.started
    return calls


async def at_rate(send: Send, rate: float, seconds: float, max_in_flight: int = 2000) -> Calls:
    """A call every ``1/rate`` s for ``seconds``, whether or not the ones before were answered
    (up to ``max_in_flight`` at once: beyond that the server has surely fallen behind)."""
    calls = Calls()
    count = int(rate * seconds)
    async with client(max_in_flight) as http, asyncio.TaskGroup() as group:
        calls.started = started = time.monotonic()
        for index in range(count):
            due = started + index / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            group.create_task(_call(http, send, index, due, calls))
    calls.elapsed = time.monotonic() - started
    return calls
