"""On PostgreSQL every write takes its locks in one order, the audit chain's head last: a
submissions batch and an HTTP report about the same person cannot deadlock.

Before, a batch took person A's advisory lock, then the audit head (for A's record), then
person B's lock, while an HTTP report held B's lock and waited for the head."""

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from services.intake.reports.admission import admit_report
from services.intake.reports.schemas import ReportIn
from services.intake.reports.vault import Vault
from shared.audit import AuditContext, current_audit
from shared.db import Database
from shared.names import Service
from tests.e2e.test_reports import report
from tests.services.intake.test_submissions_once import entry, running_intake

WAITING = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def _until_waiting(database: Database, count: int) -> None:
    for _ in range(400):  # 20 s at most
        async with database.reading() as session:
            if (await session.scalar(WAITING)) >= count:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} transactions ever waited on a lock")


async def test_a_batch_and_an_http_report_of_the_same_person_do_not_deadlock(
    redis_url: str, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writers take one lock for the whole transaction: nothing to invert")
    async with running_intake(redis_url, database_url, tmp_path) as intake:
        platform = intake.platform
        client = await intake.reporter()
        token = await intake.token(client)
        principal = await platform.verifier.verify(token)
        vault = Vault.load(tmp_path / "intake-vault.json", create=False)
        shared_id = "079201009999"
        batch = [
            entry("report.submitted", report("lock-a"), token),
            entry("report.submitted", report("lock-b", person=report("lock-b")["person"]
                                             | {"id_number": shared_id}), token),
        ]  # fmt: skip
        over_http = ReportIn.model_validate(
            report("lock-http", person=report("lock-http")["person"] | {"id_number": shared_id})
        )

        async def http_write() -> None:
            context = AuditContext(Service.INTAKE, "POST /v1/reports", None, principal)
            context.rule = platform.matrix.rule(Service.INTAKE, "POST", "/v1/reports")
            context.success_status = 201
            current_audit.set(context)
            await admit_report(platform, vault, over_http, principal)

        caplog.set_level(logging.WARNING, logger="shared.consumer")
        async with platform.database.transaction() as gate:  # holds the audit head for now
            await gate.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))
            batch_done = asyncio.create_task(intake.consumer.process(batch))
            await _until_waiting(platform.database, 1)
            http_done = asyncio.create_task(http_write())
            await _until_waiting(platform.database, 2)
        await asyncio.wait_for(asyncio.gather(batch_done, http_done), 60)
        assert not [r for r in caplog.records if "failed" in r.getMessage()], caplog.text
        assert (await intake.counts())["cases"] == 3
