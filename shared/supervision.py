"""The background work of a service process, each piece in its own task.

Periodic jobs run in their own task and their own ``try``, so one job's failure (or hang)
never stops another's — the deadline timers keep firing while consumer maintenance fails.
Workers are restarted after a crash, with backoff. ``problems`` names every task that is not
running, for ``/ready``.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]
Work = Callable[[], Coroutine[Any, Any, None]]


def stop_if_cancelled() -> None:
    """Raise CancelledError if this task is being cancelled: a client library that turns a
    cancellation into an ordinary error (redis-py can) must not keep a loop running."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Supervisor:
    """Starts, watches and stops a process's background tasks by name."""

    def __init__(self, *, first_backoff: float = 1.0, max_backoff: float = 60.0) -> None:
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._restarting: dict[str, str] = {}

    def run(self, name: str, work: Work) -> None:
        """Run ``work`` until it ends or the process stops (it handles its own errors)."""
        self.tasks[name] = asyncio.create_task(work(), name=name)

    def every(self, name: str, interval: float, job: Job) -> None:
        """Run ``job`` now and then every ``interval`` seconds; a failure waits for the next."""

        async def periodically() -> None:
            while True:
                try:
                    await job()
                except Exception:
                    stop_if_cancelled()
                    log.exception("%s failed; again in %.1f s", name, interval)
                stop_if_cancelled()  # some clients swallow a cancellation whole
                await asyncio.sleep(interval)

        self.run(name, periodically)

    def keep_running(self, name: str, work: Work) -> None:
        """Run ``work``; whenever it crashes or returns, run it again after a backoff."""

        async def supervised() -> None:
            backoff = self.first_backoff
            while True:
                started = time.monotonic()
                try:
                    await work()
                    reason = "ended"
                except Exception as error:
                    stop_if_cancelled()
                    reason = type(error).__name__
                    log.exception("%s crashed; restarting in %.1f s", name, backoff)
                if time.monotonic() - started > self.max_backoff:
                    backoff = self.first_backoff  # it had run well for a while
                self._restarting[name] = f"{reason}; restarting"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                del self._restarting[name]

        self.run(name, supervised)

    def problems(self) -> dict[str, str]:
        """Tasks that are not running now, with a reason safe to show."""
        found = dict(self._restarting)
        for name, task in self.tasks.items():
            if task.done():
                found[name] = "stopped"
        return found

    async def stop(self, *names: str, within: float) -> None:
        """Cancel the named tasks (all when none are named) and wait up to ``within`` s."""
        chosen = [
            self.tasks.pop(name) for name in (names or list(self.tasks)) if name in self.tasks
        ]
        for task in chosen:
            task.cancel()
        if chosen:
            _, stuck = await asyncio.wait(chosen, timeout=within)
            for task in stuck:
                log.warning("%s did not stop within %s s", task.get_name(), within)
