"""A message that went out is recorded even when the database refuses the first tries: the
claim is kept meanwhile, so no one sends it a second time. (The chaos suite's full-size run
found three mails sent twice after SQLite stayed locked past its busy timeout.)"""

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from safereturn.sinks import HttpSink
from services.notify.delivery import Deliverer
from tests.services.notify.test_delivery import (
    MESSAGES,
    delivery,
    notify_platform,
    outcomes,
    record,
    running,
    settings_for,
)

LOCK_S = 2.5  # longer than the busy timeout below and than the 1 s lease


async def test_a_sent_message_is_recorded_once_the_database_unlocks_and_is_not_sent_again(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shared.db.SQLITE_BUSY_TIMEOUT_MS", 200)  # a locked write fails fast
    database = tmp_path / "notify.db"
    with HttpSink(hang_s=0.5) as gateway:
        gateway.plans["/sms"] = ["hang"]  # the gateway answers after 0.5 s
        url, sms = f"sqlite+aiosqlite:///{database}", gateway.url("/sms")
        settings = settings_for(url, redis_url, tmp_path, sms_gateway_url=sms, delivery_lease_s=1.0)
        async with notify_platform(settings) as platform:
            row = delivery()
            await record(platform, row)
            async with running(Deliverer(platform, settings, MESSAGES)):
                await _on_its_way(gateway)  # the message is sent: lock the database
                await asyncio.to_thread(_hold_write_lock, database, LOCK_S)
                await asyncio.sleep(3.0)  # time for a second send, were there one
            assert len(gateway.at("/sms")) == 1
            events = await outcomes(platform, row["delivery_id"])
            assert [kind for kind, _ in events] == ["notification.sent"]


async def _on_its_way(gateway: HttpSink) -> None:
    for _ in range(1000):
        if gateway.at("/sms"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the message was never sent")


def _hold_write_lock(database: Path, seconds: float) -> None:
    """Another writer holds SQLite's write lock: every other write waits, then fails."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        connection.execute("COMMIT")
    finally:
        connection.close()
