"""``safereturn stats export-htcds``: identified cases of a period and area as k-anonymous HTCDS
v2 records, read from stats' database by the same function as ``GET /v1/exports/htcds``
(docs/htcds-export.md). The export is on record in stats' audit log, like the route's."""

import argparse
import asyncio
import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from safereturn import admin
from services.stats import exports
from services.stats.domain import Period
from services.stats.settings import StatsSettings
from shared.names import Service
from shared.private import write_private

Say = Callable[[str], None]
PROVINCE = re.compile(r"[0-9]{2}")


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``safereturn stats rebuild`` and ``safereturn stats export-htcds``."""
    stats = commands.add_parser("stats", help="the statistics service")
    stats_commands = stats.add_subparsers(dest="stats_command", required=True)
    stats_commands.add_parser("rebuild", help="replay every archived event into fresh projections")
    export = stats_commands.add_parser(
        "export-htcds",
        help="identified cases as k-anonymous HTCDS v2 records (JSON or CSV)",
    )
    export.add_argument("--from", dest="start", required=True, type=date.fromisoformat,
                        metavar="YYYY-MM-DD", help="identified on or after")  # fmt: skip
    export.add_argument("--to", dest="end", required=True, type=date.fromisoformat,
                        metavar="YYYY-MM-DD", help="identified on or before")  # fmt: skip
    export.add_argument("--province", help="a 2025 province code (default: national)")
    export.add_argument(
        "--k", type=int, default=None,
        help="k-anonymity; at least SAFERETURN_STATS_HTCDS_K (11), which is the default",
    )  # fmt: skip
    export.add_argument("--format", dest="output_format", choices=("json", "csv"),
                        default="json")  # fmt: skip
    export.add_argument("--output", type=Path, help="write to this file (owner-only), not stdout")


def command(args: argparse.Namespace, say: Say) -> int:
    """Runs the export; 2 with the field named if an argument is refused."""
    settings = StatsSettings()
    problem = refused(args, settings.htcds_k)
    if problem:
        say(f"error: {problem}")
        return 2
    k = args.k or settings.htcds_k
    export = asyncio.run(
        export_htcds(Period(args.start, args.end), args.province, k, settings.htcds_max_suppressed)
    )
    text = (exports.htcds_csv(export) if args.output_format == "csv"
            else json.dumps(export, ensure_ascii=False, indent=2) + "\n")  # fmt: skip
    if args.output is None:
        say(text.rstrip("\n"))
        return 0
    write_private(args.output, text)
    counts = export["counts"]
    say(f"wrote {counts['released']} records to {args.output} (k={k}; {counts['suppressed']} "
        f"suppressed, {counts['without_consent']} without consent)")  # fmt: skip
    return 0


def refused(args: argparse.Namespace, least: int) -> str | None:
    """What is wrong with the arguments, naming the option, or None."""
    if args.end < args.start:
        return "--to: is before --from"
    if args.province is not None and not PROVINCE.fullmatch(args.province):
        return "--province: a 2025 province code is two digits"
    if args.k is not None and args.k < least:
        return f"--k: must be at least {least}"
    return None


async def export_htcds(
    period: Period, province: str | None, k: int, max_suppressed: float
) -> dict[str, Any]:
    subject = f"{period.name} {province or 'national'} k={k}"
    async with admin.database_of(Service.STATS) as database, database.transaction() as session:
        export = await exports.htcds_export(
            session, period, province, None, k=k, max_suppressed=max_suppressed
        )
        await admin.audit_operator(session, "stats export-htcds", subject, Service.STATS)
    return export
