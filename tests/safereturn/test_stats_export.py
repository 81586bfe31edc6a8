"""``safereturn stats export-htcds``: the same k-anonymous HTCDS export as the route, read from
stats' database by the command, written owner-only; k below the configured least refused."""

import asyncio
import csv
import io
import json
import os
import stat
import sys
from datetime import date
from pathlib import Path

from services.stats.app import MIGRATIONS
from shared.db import Database
from shared.migrations import upgrade
from tests.conftest import DatabaseFactory
from tests.services.stats.deliveries import consume, identified, received, sent

FEB = date(2026, 2, 1)


async def safereturn(env: dict[str, str], *args: str) -> tuple[int, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SAFERETURN_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "safereturn", *args, env=base | env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def stats_database(url: str) -> None:
    """Stats' database at its head revision: eleven women alike identified in February 2026,
    one man unlike them, and one woman who refused consent for statistics."""
    database = Database(url)
    try:
        await upgrade(database, MIGRATIONS)
        events = [sent(received(f"w-{n}")) for n in range(11)]
        events.append(sent(received("m-0", sex="male", age=40)))
        events.append(sent(received("r-0", consent={"services": True, "statistics": False,
                                                    "information_sharing": True})))  # fmt: skip
        events += [sent(identified(case, FEB)) for case in (*(f"w-{n}" for n in range(11)),
                                                            "m-0", "r-0")]  # fmt: skip
        await consume(database, events)
    finally:
        await database.dispose()


async def test_the_command_writes_the_k_anonymous_export(
    new_database_url: DatabaseFactory, tmp_path: Path
) -> None:
    url = await new_database_url()
    await stats_database(url)
    env = {"SAFERETURN_EMBEDDED": "true", "SAFERETURN_DATA_DIR": str(tmp_path / "data"),
           "SAFERETURN_STATS_DATABASE_URL": url}  # fmt: skip
    out_file = tmp_path / "out" / "htcds.json"
    code, out = await safereturn(env, "stats", "export-htcds", "--from", "2026-01-01",
                                 "--to", "2026-12-31", "--province", "11",
                                 "--output", str(out_file))  # fmt: skip
    assert code == 0, out
    assert "wrote 11 records" in out
    assert "1 suppressed, 1 without consent" in out
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    export = json.loads(out_file.read_text())
    assert export["counts"] == {"identified": 13, "without_consent": 1, "released": 11,
                                "suppressed": 1}  # fmt: skip
    assert export["k"] == 11
    assert {r["prs_Gender"] for r in export["records"]} == {"Feminine"}

    code, out = await safereturn(env, "stats", "export-htcds", "--from", "2026-01-01",
                                 "--to", "2026-12-31", "--format", "csv")  # fmt: skip
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 11
    assert rows[0]["hte_Country"] == "CN"


async def test_the_command_refuses_a_k_below_the_configured_one_naming_it(
    new_database_url: DatabaseFactory, tmp_path: Path
) -> None:
    env = {"SAFERETURN_EMBEDDED": "true", "SAFERETURN_DATA_DIR": str(tmp_path / "data"),
           "SAFERETURN_STATS_DATABASE_URL": await new_database_url()}  # fmt: skip
    code, out = await safereturn(env, "stats", "export-htcds", "--from", "2026-01-01",
                                 "--to", "2026-12-31", "--k", "5")  # fmt: skip
    assert (code, out.strip()) == (2, "error: --k: must be at least 11")
    code, out = await safereturn(env, "stats", "export-htcds", "--from", "2026-03-01",
                                 "--to", "2026-01-31")  # fmt: skip
    assert (code, out.strip()) == (2, "error: --to: is before --from")
