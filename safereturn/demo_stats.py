"""The last step of the demo: the official form for the scenario, its Excel file, and the
dashboard's address.

The form counts everything in the data folder, earlier runs of the demo included, so the
scenario's figures are what its run added to the form, with the form's whole value beside them
when earlier runs count too.
"""

import asyncio
import time
from pathlib import Path
from typing import Any

from safereturn import admin
from safereturn.scenario import ApiClient, Say, ScenarioError
from services.stats.domain import ROWS
from shared.access import Role
from shared.events.base import business_today
from shared.names import Service

PROVINCE, WARD = "11", "03325"
PATH = "/v1/reports/victim-support"
SETTLE_S, SETTLED_FOR_S = 20.0, 1.5


class Form:
    """An analyst of Điện Biên, and the form as it stood before the scenario."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        credentials = asyncio.run(admin.create_client(
            lambda _: None, "Sở Y tế Điện Biên, thống kê (demo)", Role.ANALYST, PROVINCE, None
        ))  # fmt: skip
        self.client_id = credentials.client.client_id
        self.analyst = ApiClient(urls, self.client_id, credentials.secret)
        self.year = business_today().year
        self.before = self._report()["rows"]

    def _report(self) -> dict[str, Any]:
        params = {"period": str(self.year), "province": PROVINCE}
        report: dict[str, Any] = self.analyst.get(Service.STATS, PATH, params=params).json()
        return report

    def _settled(self) -> dict[str, Any]:
        """The form once the scenario's events are projected: its leaflets counted, and no
        further event archived for a moment."""
        deadline, seen = time.monotonic() + SETTLE_S, None
        while True:
            report = self._report()
            counted = (report["rows"]["II.2.leaflets"] or 0) > (self.before["II.2.leaflets"] or 0)
            if (counted and report["as_of"] == seen) or time.monotonic() > deadline:
                return report
            seen = report["as_of"] if counted else None
            time.sleep(SETTLED_FOR_S if counted else 0.5)

    def show(self, data_dir: Path, say: Say) -> None:
        report = self._settled()
        say(f"  Biểu số liệu, Tỉnh Điện Biên, năm {self.year} (as of {report['as_of']['events']} "
            "events); rows the scenario added to:")  # fmt: skip
        for key, label, unit, _ in ROWS:
            value, before = report["rows"][key], self.before[key]
            if not value:
                continue  # zero, or hidden to protect small counts
            added = value - before if before is not None else None
            if added == 0:
                continue
            whole = "" if added == value else f"   ({value:,} in the form with earlier runs)"
            shown = f"{added:>10,}" if added is not None else f"{'?':>10}"
            say(f"    {key:<24} {label[:58]:<58} {shown} {unit}{whole}")
        quarter = f"{self.year}-Q{(business_today().month - 1) // 3 + 1}"
        sheet = self.analyst.get(Service.STATS, PATH, params={"period": quarter, "ward": WARD,
                                                              "format": "xlsx"})  # fmt: skip
        if sheet.status_code != 200:
            raise ScenarioError(f"no Excel form: {sheet.status_code}")
        target = data_dir / f"bieu-so-lieu-{quarter}-{WARD}.xlsx"
        target.write_bytes(sheet.content)
        say(f"  the Excel form for {quarter}, Xã Mường Phăng: {target}")
        say(f"  dashboard: {self.urls[Service.STATS]}/dashboard?province={PROVINCE}")

    def close(self) -> None:
        self.analyst.close()
        asyncio.run(admin.revoke_client(lambda _: None, self.client_id))
