"""Read your writes: a request waiting for its event wakes when this process commits events,
not at the next poll (another replica's commits are seen at the next poll)."""

import asyncio

from services.stats.api import Arrivals


async def test_a_waiting_request_wakes_when_events_are_committed_here() -> None:
    arrivals = Arrivals()
    arrivals.OTHERS_S = 600.0  # no poll within the test: only the commit can wake it
    waiting = asyncio.create_task(arrivals.wait(600.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    arrivals.landed()
    await asyncio.wait_for(waiting, timeout=30)


async def test_without_a_commit_here_it_looks_again_after_a_short_while() -> None:
    arrivals = Arrivals()
    arrivals.OTHERS_S = 0.01
    await asyncio.wait_for(arrivals.wait(600.0), timeout=30)  # returns: the caller looks again
