"""Read your writes: a form request that names an event waits until stats has archived (and so
projected) it.

Waiting costs the database nothing per request. A batch this process commits wakes the
requests waiting for its events directly; for events another replica commits, one lookup
every ``OTHERS_S`` asks for all the waited-for events at once. (Each request looking for its
own event at every commit had the database answer every waiter after every batch: when stats
fell behind, the waiters multiplied and their lookups slowed the projection they waited for.)
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from sqlalchemy.exc import DatabaseError

from services.stats import store
from services.stats.tallies import batched
from shared.db import Database

log = logging.getLogger(__name__)


class Arrivals:
    OTHERS_S = 0.1
    LOOKUP_CHUNK = 500  # event ids per lookup (bound parameters per statement)

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}
        self._someone_waits = asyncio.Event()

    def landed(self, event_ids: Iterable[str]) -> None:
        """These events are committed: wake the requests waiting for them."""
        for event_id in event_ids:
            for future in self._waiting.pop(event_id, ()):
                if not future.done():
                    future.set_result(None)

    async def reflected(self, database: Database, event_id: str, wait_s: float) -> bool:
        """Whether ``event_id`` is archived within ``wait_s`` seconds."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(event_id, set()).add(future)  # before looking: no commit missed
        try:
            if await self._archived(database, [event_id]):
                return True
            self._someone_waits.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, timeout=wait_s)
            return future.done() and not future.cancelled()
        finally:
            self._forget(event_id, future)

    def _forget(self, event_id: str, future: asyncio.Future[None]) -> None:
        futures = self._waiting.get(event_id)
        if futures is not None:
            futures.discard(future)
            if not futures:
                del self._waiting[event_id]

    async def looking(self, database: Database) -> None:
        """The worker that finds, while requests wait, the events other replicas committed."""
        while True:
            await self._someone_waits.wait()
            await asyncio.sleep(self.OTHERS_S)
            if not self._waiting:
                self._someone_waits.clear()
            for chunk in batched(list(self._waiting), self.LOOKUP_CHUNK):
                try:
                    found = await self._archived(database, chunk)
                except DatabaseError:
                    log.warning("looking for events other replicas committed failed", exc_info=True)
                    break  # the waiters keep waiting; the next round looks again
                self.landed(found)

    @staticmethod
    async def _archived(database: Database, event_ids: Iterable[str]) -> list[str]:
        async with database.reading() as session:
            return await store.archived_of(session, event_ids)
