"""Property: whatever the batching and redelivery, every received case ends with one task."""

import asyncio
import secrets
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from services.verification.app import MIGRATIONS, create_app
from services.verification.settings import VerificationSettings
from services.verification.store import tasks
from shared.events import REGISTRY
from shared.events.base import business_time
from shared.events.envelope import to_fields
from shared.events.intake import CaseReceived, Consent
from shared.migrations import upgrade
from shared.runtime import Platform
from shared.streams import Entry
from tests.e2e.test_reports import RECEIVED


def received(n: int) -> dict[bytes, bytes]:
    event = CaseReceived(
        case_id=f"case-{n}", received_on=RECEIVED, channel="commune",
        reception_form="self_returned", province="11", ward="03325", agency="Commune",
        sex="female", trafficking_scope="abroad",
        consent=Consent(services=True, information_sharing=True, statistics=True),
    )  # fmt: skip
    envelope = REGISTRY.envelope(event, event_id=f"evt-{n}", source="/safereturn/intake",
                                 subject=event.case_id, time=business_time(RECEIVED))  # fmt: skip
    return {k.encode(): v.encode() for k, v in to_fields(envelope).items()}


deliveries = st.lists(st.integers(0, 7), min_size=1, max_size=30)  # case numbers, repeats
batch_sizes = st.lists(st.integers(1, 6), min_size=1, max_size=10)


async def apply(platform: Platform, order: list[int], sizes: list[int]) -> dict[str, int]:
    consumer = next(c for c in platform.consumers if c.stream.endswith("{cases}"))
    await upgrade(platform.database, MIGRATIONS)
    await consumer.provision()
    entries = [Entry(f"{i + 1}-0", received(n)) for i, n in enumerate(order)]
    start, turn = 0, 0
    while start < len(entries):  # batches of the generated sizes, in turn
        size = sizes[turn % len(sizes)]
        await consumer.process(entries[start : start + size])
        start, turn = start + size, turn + 1
    async with platform.database.reading() as session:
        rows = await session.execute(
            select(tasks.c.case_id, func.count()).group_by(tasks.c.case_id)
        )
        return {case_id: count for case_id, count in rows}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=deliveries, sizes=batch_sizes)
def test_every_received_case_ends_in_exactly_one_task(
    order: list[int], sizes: list[int], redis_url: str, tmp_path: Path
) -> None:
    settings_ = VerificationSettings(
        embedded=True,
        redis_url=redis_url,
        database_url=f"sqlite+aiosqlite:///{tmp_path / secrets.token_hex(4)}.db",
    )
    app = create_app(settings_)
    platform: Platform = app.state.platform

    async def run() -> dict[str, int]:
        try:
            await platform.redis.delete("safereturn:{cases}")
            return await apply(platform, order, sizes)
        finally:
            await platform.redis.aclose()
            await platform.database.dispose()
            platform.telemetry.shutdown()

    counts = asyncio.run(run())
    assert counts == {f"case-{n}": 1 for n in set(order)}
