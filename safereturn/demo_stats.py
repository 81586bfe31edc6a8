"""The last step of the demo: the official form for the scenario, its Excel file, and the
dashboard's address."""

import asyncio
import time
from pathlib import Path

from safereturn import admin
from safereturn.scenario import ApiClient, Say, ScenarioError
from services.stats.domain import ROWS
from shared.access import Role
from shared.events.base import business_today
from shared.names import Service

PROVINCE, WARD = "11", "03325"


def show_form(urls: dict[str, str], data_dir: Path, say: Say) -> None:
    credentials = asyncio.run(admin.create_client(
        lambda _: None, "Sở Y tế Điện Biên, thống kê (demo)", Role.ANALYST, PROVINCE, None
    ))  # fmt: skip
    analyst = ApiClient(urls, credentials.client.client_id, credentials.secret)
    try:
        year = business_today().year
        path = "/v1/reports/victim-support"
        params = {"period": str(year), "province": PROVINCE}
        deadline = time.monotonic() + 20  # until the scenario's last events are projected
        while True:
            report = analyst.get(Service.STATS, path, params=params).json()
            if report["rows"]["II.2.leaflets"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        say(f"  Biểu số liệu, Tỉnh Điện Biên, năm {year} (as of {report['as_of']['events']} "
            "events); rows that are not zero:")  # fmt: skip
        for key, label, unit, _ in ROWS:
            value = report["rows"][key]
            if value:
                say(f"    {key:<24} {label[:58]:<58} {value:>10,} {unit}")
        quarter = f"{year}-Q{(business_today().month - 1) // 3 + 1}"
        sheet = analyst.get(Service.STATS, path, params={"period": quarter, "ward": WARD,
                                                         "format": "xlsx"})  # fmt: skip
        if sheet.status_code != 200:
            raise ScenarioError(f"no Excel form: {sheet.status_code}")
        target = data_dir / f"bieu-so-lieu-{quarter}-{WARD}.xlsx"
        target.write_bytes(sheet.content)
        say(f"  the Excel form for {quarter}, Xã Mường Phăng: {target}")
        say(f"  dashboard: {urls[Service.STATS]}/dashboard?province={PROVINCE}")
    finally:
        analyst.close()
        asyncio.run(admin.revoke_client(lambda _: None, credentials.client.client_id))
