"""``safereturn dlq``: list, show and replay dead letters on a real Redis."""

import asyncio
import json
import os
import sys

from redis.asyncio import Redis

from shared.db import Database
from shared.names import Stream, dead_letter_stream
from tests.conftest import PlatformFactory
from tests.shared.test_consumer import pending, publish
from tests.support import Behaviour, effect_counts, eventually


async def safereturn(redis_url: str, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERETURN_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "safereturn", *args,
        env=env | {"SAFERETURN_REDIS_URL": redis_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_a_dead_letter_is_listed_shown_and_replayed_once_fixed(
    redis_url: str, redis: Redis, database: Database, start_platform: PlatformFactory
) -> None:
    behaviour = Behaviour(poison={2})
    await start_platform(behaviour, max_deliveries=2)
    await publish(redis, 1, 2)
    dlq = dead_letter_stream(Stream.CASES)

    async def dead_lettered() -> bool:
        return await redis.xlen(dlq) == 1 and await pending(redis) == 0

    assert await eventually(dead_lettered)
    [(letter_id, _)] = await redis.xrange(dlq)
    letter_id = letter_id.decode()

    code, out = await safereturn(redis_url, "dlq", "list")
    assert code == 0
    assert letter_id in out
    assert "test.ticked" in out
    assert "1 dead letter(s)" in out

    code, out = await safereturn(redis_url, "dlq", "show", letter_id)
    assert code == 0
    shown = json.loads(out)
    assert shown["entry"]["id"] == "evt-2"
    assert shown["failure"]["error_type"] == "HandlerCrashed"
    assert shown["failure"]["deliveries"] == "2"

    behaviour.poison.clear()  # the bug is fixed and deployed
    code, out = await safereturn(redis_url, "dlq", "replay", letter_id)
    assert code == 0, out
    assert "1 replayed" in out

    async def applied() -> bool:
        return await effect_counts(database.sessions) == {1: 1, 2: 1}

    assert await eventually(applied)
    assert await redis.xlen(dlq) == 0


async def test_replaying_an_unknown_dead_letter_fails_clearly(redis_url: str, redis: Redis) -> None:
    code, out = await safereturn(redis_url, "dlq", "replay", "1-1")
    assert code == 1
    assert "no dead letter 1-1" in out
    code, out = await safereturn(redis_url, "dlq", "replay")
    assert code == 2
