"""Intake against the bare endpoint: reports accepted per second at a fixed concurrency and
their POST latency; then a steady rate, each report followed to the statistics form that
reflects it (``after_event``)."""

import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

import httpx

from bench.drive import Calls, at_concurrency, at_rate
from bench.figures import Figure, percentile

MS = 1000.0


def bodies(reports: Iterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return list(islice(reports, count))


async def burst(urls: list[str], path: str, token: str | None, sent: list[dict[str, Any]],
                concurrency: int) -> Calls:  # fmt: skip
    """Every body POSTed once, ``concurrency`` at a time, to the replicas in turn."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def send(http: httpx.AsyncClient, index: int) -> httpx.Response:
        url = urls[index % len(urls)]
        return await http.post(f"{url}{path}", json=sent[index], headers=headers)

    return await at_concurrency(send, len(sent), concurrency)


async def reads(url: str, count: int) -> Calls:
    """The bare endpoint's one-row reads, one at a time: the floor under any answer that reads
    a database."""

    async def send(http: httpx.AsyncClient, index: int) -> httpx.Response:
        return await http.get(f"{url}/bodies/{index + 1}")

    return await at_concurrency(send, count, 1)


def throughput_figures(kind: str, intake: Calls, bare: Calls, concurrency: int) -> list[Figure]:
    problems = intake.failed() + bare.failed()
    if problems:
        raise RuntimeError(f"calls failed ({kind}): {', '.join(problems)}")
    p50, p99 = percentile(intake.latencies, 50) * MS, percentile(intake.latencies, 99) * MS
    return [
        Figure(f"intake reports/s at concurrency {concurrency} ({kind})", intake.rate, "/s",
               bare.rate, "bare endpoint", "≥ 0.5x", intake.rate >= 0.5 * bare.rate),
        Figure(f"intake POST p50 ({kind})", p50, "ms",
               percentile(bare.latencies, 50) * MS, "bare endpoint"),
        Figure(f"intake POST p99 ({kind})", p99, "ms",
               percentile(bare.latencies, 99) * MS, "bare endpoint", "≤ 10x p50", p99 <= 10 * p50),
    ]  # fmt: skip


async def steady(
    urls: tuple[str, str], tokens: tuple[str, str], sent: list[dict[str, Any]], *,
    rate: float, seconds: float,
) -> tuple[Calls, list[float]]:  # fmt: skip
    """Reports at ``rate`` for ``seconds``; each one's 202 followed at once by the form of its
    province waiting for its event: the latencies from the 202 to that answer (seconds)."""
    (intake_url, stats_url), (reporter, analyst) = urls, tokens
    reflected: list[float] = []
    accepted_at: list[float] = []

    async def send(http: httpx.AsyncClient, index: int) -> httpx.Response:
        body = sent[index]
        answer = await http.post(f"{intake_url}/v1/reports", json=body,
                                 headers={"Authorization": f"Bearer {reporter}"})  # fmt: skip
        if answer.status_code == 202:
            accepted = time.monotonic()
            accepted_at.append(accepted)
            params = {"period": body["received_at"][:4], "province": body["area"]["province"],
                      "after_event": answer.json()["event_id"]}  # fmt: skip
            for _ in range(10):  # 503: not reflected within stats' own wait; ask again
                form = await http.get(f"{stats_url}/v1/reports/victim-support", params=params,
                                      headers={"Authorization": f"Bearer {analyst}"})  # fmt: skip
                if form.status_code != 503:
                    break
            if form.status_code == 200:
                reflected.append(time.monotonic() - accepted)
        return answer

    calls = await at_rate(send, rate, seconds)
    # Reports accepted per second while they were offered: each 202 counts when it came, not
    # when the statistics that followed it did.
    calls.elapsed = max(accepted_at, default=calls.started) - calls.started
    return calls, reflected


def alone_figures(kind: str, intake: Calls, bare: Calls, concurrency: int) -> list[Figure]:
    """Intake with the consumers stopped: what it takes when it has the cores to itself, as
    the bare endpoint has (on two cores the consumers of its events compete with it)."""
    if intake.failed():
        raise RuntimeError(f"calls failed ({kind}): {', '.join(intake.failed())}")
    return [
        Figure(f"intake reports/s at concurrency {concurrency}, consumers stopped ({kind})",
               intake.rate, "/s", bare.rate, "bare endpoint", "≥ 0.5x",
               intake.rate >= 0.5 * bare.rate),
        Figure(f"intake POST p50, consumers stopped ({kind})",
               percentile(intake.latencies, 50) * MS, "ms",
               percentile(bare.latencies, 50) * MS, "bare endpoint"),
    ]  # fmt: skip


def steady_figures(kind: str, calls: Calls, reflected: list[float], *, rate: float,
                   lag: tuple[int, int], bare_p50: float) -> list[Figure]:  # fmt: skip
    """``lag`` is the pipeline's backlog (entries not yet consumed) at the start and the end.
    A platform that falls behind fails calls (timeouts, 503s): they are figures, not errors."""
    unanswered = sum(n for status, n in calls.statuses.items() if not 200 <= status < 300)
    missing = calls.accepted - len(reflected)
    p = {q: percentile(reflected, q) * MS for q in (50, 95, 99)}
    return [
        Figure(f"intake sustained reports/s at {rate:g}/s offered ({kind})", calls.rate, "/s",
               rate, "offered", "≥ 0.97x", calls.rate >= 0.97 * rate),
        Figure(f"reports not accepted at {rate:g}/s ({kind}): {', '.join(calls.failed()) or '—'}",
               unanswered, "", target="none", met=not unanswered),
        Figure(f"reports accepted and not reflected in stats ({kind})", missing, "",
               target="none", met=not missing),
        # Entries the consumers have yet to read or acknowledge, when the last report is in.
        Figure(f"pipeline backlog after the steady run ({kind})", lag[1], "entries",
               target=f"no growth (before: {lag[0]})", met=lag[1] <= lag[0] + rate),
        Figure(f"202 → stats reflects it p50 ({kind})", p[50], "ms", bare_p50, "bare POST p50",
               "≤ 50 ms", p[50] <= 50),
        Figure(f"202 → stats reflects it p95 ({kind})", p[95], "ms", bare_p50, "bare POST p50"),
        Figure(f"202 → stats reflects it p99 ({kind})", p[99], "ms", bare_p50, "bare POST p50",
               "≤ 250 ms", p[99] <= 250),
    ]  # fmt: skip
