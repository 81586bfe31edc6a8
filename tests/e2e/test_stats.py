"""Stats on running services: the Tuần Giáo 2020 form reproduced from events posted through the
real intake and verification APIs, exported as the official Excel sheet and CSV, read your
writes, rebuilt from the archive with identical results, public aggregates, the dashboard."""

import csv
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_py
from openpyxl import load_workbook

from services.stats.domain import KEYS
from shared.events.envelope import from_fields
from shared.names import Service, Stream
from tests.e2e.conftest import Services
from tests.e2e.test_reports import published, report

TUAN_GIAO = "03253"  # Xã Tuần Giáo (2025), formerly the district town
ARTIFACTS = Path("test-artifacts")


@pytest.fixture(scope="module")
def tuan_giao(platform: Services) -> dict[str, Any]:
    """The 2020 scenario: two persons received from Móng Cái and verified, neither a victim;
    one directive document, 100 leaflets, 2 trainings for 100 officials."""
    reporter = platform.auth("reporter", province="11")
    verifier = platform.auth("verifier", province="11")
    area = {"province": "11", "ward": TUAN_GIAO}
    for n, received in enumerate(("2020-04-14", "2020-09-02")):
        body = report(f"tg-2020-{n}", received_at=received, area=area, accompanying_minors=[],
                      reception_form="bilateral_handover")  # fmt: skip
        body["consent"]["recorded_at"] = received
        answer = httpx.post(f"{platform.urls[Service.INTAKE]}/v1/reports", json=body,
                            headers=reporter)  # fmt: skip
        assert answer.status_code == 202, answer.text
        case_id = answer.json()["case_id"]
        published(platform, Stream.CASES, "verification.opened", "case_id", case_id)
        decided = httpx.post(
            f"{platform.urls[Service.VERIFICATION]}/v1/cases/{case_id}/decision",
            json={"outcome": "not_victim", "decided_at": received}, headers=verifier)  # fmt: skip
        assert decided.status_code == 200, decided.text
    activities = [
        {"kind": "directive_document", "date": "2020-03-02", "area": area},
        {"kind": "materials", "date": "2020-06-15", "area": area, "leaflets": 100},
        {"kind": "training", "date": "2020-10-20", "area": area, "sessions": 2,
         "participants": 100},
    ]  # fmt: skip
    last = None
    for activity in activities:
        answer = httpx.post(f"{platform.urls[Service.INTAKE]}/v1/activities", json=activity,
                            headers=reporter)  # fmt: skip
        assert answer.status_code == 202, answer.text
        last = answer.json()["activity_id"]
    published(platform, Stream.ACTIVITIES, "activity.reported", "activity_id", str(last))
    return {"analyst": platform.auth("analyst", province="11"),
            "last_event_id": event_id_of(platform, str(last))}  # fmt: skip


def event_id_of(platform: Services, activity_id: str) -> str:
    """The CloudEvent id of an activity's event, as an integrator reading the stream sees it."""
    client = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"])
    try:
        entries = client.xrange(Stream.ACTIVITIES)
    finally:
        client.close()
    for _, fields in entries:
        event = from_fields(fields)
        if json.loads(str(event.get_data()))["activity_id"] == activity_id:
            return str(event.get_id())
    raise AssertionError("no such event")


def form(platform: Services, headers: dict[str, str], **params: str) -> httpx.Response:
    return httpx.get(f"{platform.urls[Service.STATS]}/v1/reports/victim-support", params=params,
                     headers=headers, timeout=30)  # fmt: skip


def wait_for_rows(platform: Services, headers: dict[str, str], **params: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        body: dict[str, Any] = form(platform, headers, **params).json()
        if body["rows"]["I.1"] == 2 and body["rows"]["II.3.participants"] == 100:
            return body
        if time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_the_tuan_giao_2020_form_is_reproduced_from_events(
    platform: Services, tuan_giao: dict[str, Any]
) -> None:
    body = wait_for_rows(platform, tuan_giao["analyst"], period="2020", province="11")
    expected = dict.fromkeys(KEYS, 0) | {"I.1": 2, "II.1": 1, "II.2.leaflets": 100,
                                         "II.3.trainings": 2, "II.3.participants": 100}  # fmt: skip
    assert body["rows"] == expected
    assert body["period"] == {"from": "2020-01-01", "to": "2020-12-31"}
    assert body["area"] == {"level": "province", "province": "11", "ward": None}
    assert body["as_of"]["events"] > 0
    first_half = form(platform, tuan_giao["analyst"], period="2020-H1", province="11").json()
    assert (first_half["rows"]["I.1"], first_half["rows"]["II.3.trainings"]) == (1, 0)
    commune = form(platform, tuan_giao["analyst"], period="2020-Q4", ward=TUAN_GIAO).json()
    assert commune["rows"]["II.3.participants"] == 100
    elsewhere = platform.auth("analyst", province="08")
    assert form(platform, elsewhere, period="2020", province="11").status_code == 403
    assert form(platform, tuan_giao["analyst"], period="2020-Q5").status_code == 422


def test_a_report_waits_for_an_event_it_must_include(
    platform: Services, tuan_giao: dict[str, Any]
) -> None:
    included = form(platform, tuan_giao["analyst"], period="2020", province="11",
                    after_event=tuan_giao["last_event_id"])  # fmt: skip
    assert (included.status_code, included.json()["rows"]["II.3.participants"]) == (200, 100)
    unknown = form(platform, tuan_giao["analyst"], period="2020", after_event="no-such-event")
    assert (unknown.status_code, unknown.headers["retry-after"]) == (503, "1")


def test_the_excel_and_csv_forms_carry_the_official_rows(
    platform: Services, tuan_giao: dict[str, Any]
) -> None:
    wait_for_rows(platform, tuan_giao["analyst"], period="2020", province="11")
    answer = form(platform, tuan_giao["analyst"], period="2020", ward=TUAN_GIAO, format="xlsx")
    assert answer.status_code == 200
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bieu-so-lieu-tuan-giao-2020.xlsx").write_bytes(answer.content)
    sheet = load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    cells = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    assert cells[0][0] == "BIỂU SỐ LIỆU"
    assert cells[2][0] == "Kỳ báo cáo: 2020-01-01 đến 2020-12-31"
    assert cells[3][0] == "Địa bàn: Xã Tuần Giáo, Tỉnh Điện Biên"
    by_key = {row[4]: row for row in cells if len(row) > 4 and row[4] in KEYS}
    assert set(by_key) == set(KEYS)
    assert by_key["I.1"][:4] == ("1", "Tổng số người được tiếp nhận, xác minh", "Người", 2)
    assert by_key["II.3.participants"][3] == 100
    text = form(platform, tuan_giao["analyst"], period="2020", province="11", format="csv").text
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(text))}
    assert (rows["II.2.leaflets"]["value"], rows["II.2.leaflets"]["unit"]) == ("100", "Tờ rơi")
    assert (rows["II.4.3"]["official"], rows["II.4.4.medical"]["official"]) == ("yes", "no")
    report = form(platform, tuan_giao["analyst"], period="2020", province="11").json()
    assert set(report["platform_additions"]["rows"]) == {k for k in KEYS if k >= "II.4.4"}


def test_a_rebuild_from_the_archive_after_redis_trimmed_gives_identical_reports(
    platform: Services, tuan_giao: dict[str, Any]
) -> None:
    before = wait_for_rows(platform, tuan_giao["analyst"], period="2020", province="11")
    client = redis_py.Redis.from_url(platform.env["SAFERETURN_REDIS_URL"])
    try:  # Redis trims what every group has read: the archive must be enough
        for stream in (Stream.CASES, Stream.ACTIVITIES):
            client.xtrim(stream, maxlen=0)
    finally:
        client.close()
    command = [sys.executable, "-m", "safereturn", "stats", "rebuild"]
    rebuilt = subprocess.run(command, env=platform.env, capture_output=True, text=True, check=False)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "every event projected; working out the form's sums" in rebuilt.stdout  # progress
    assert "events/s" in rebuilt.stdout
    after = form(platform, tuan_giao["analyst"], period="2020", province="11").json()
    assert after["rows"] == before["rows"]
    national = platform.auth("analyst")
    assert form(platform, national, period="2020").json()["rows"]["I.1"] >= 2


def test_public_aggregates_hide_small_counts(platform: Services, tuan_giao: dict[str, Any]) -> None:
    wait_for_rows(platform, tuan_giao["analyst"], period="2020", province="11")
    answer = httpx.get(f"{platform.urls[Service.STATS]}/v1/open/victim-support",
                       params={"period": "2020", "province": "11"},
                       headers=platform.auth("integrator"))  # fmt: skip
    body = answer.json()
    assert body["suppressed_below"] == 5
    assert body["rows"]["I.1"] is None  # two persons: fewer than k
    assert body["rows"]["II.3.participants"] == 100  # not a count of persons


def open_answer(platform: Services, **params: str) -> httpx.Response:
    return httpx.get(f"{platform.urls[Service.STATS]}/v1/open/victim-support", params=params,
                     headers=platform.auth("integrator"), timeout=30)  # fmt: skip


def test_public_aggregates_refuse_dates_so_periods_cannot_be_differenced(
    platform: Services, tuan_giao: dict[str, Any]
) -> None:
    """Jan 1 to Jun 30 against Jan 1 to Jul 1 would isolate whoever arrived on Jul 1: only whole
    periods are answered, and anything else is a problem naming the field."""
    wait_for_rows(platform, tuan_giao["analyst"], period="2020", province="11")
    cases = (({"from": "2020-01-01", "to": "2020-06-30", "province": "11"}, "from"),
             ({"to": "2020-07-01", "period": "2020-H1", "province": "11"}, "to"),
             ({"period": "2020-Q5"}, "period"), ({"province": "11"}, "period"),
             ({"period": "2020", "ward": "99999"}, "ward"),
             ({"period": "2020", "province": "08", "ward": TUAN_GIAO}, "province"))  # fmt: skip
    for params, field in cases:
        refused = open_answer(platform, **params)
        assert refused.status_code == 400, (params, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == [field]
    commune = open_answer(platform, period="2020-Q3", ward=TUAN_GIAO).json()
    assert commune["area"] == {"level": "commune", "province": "11", "ward": TUAN_GIAO}
    assert commune["period"] == {"from": "2020-07-01", "to": "2020-09-30"}
    assert commune["rows"]["I.1"] is None  # one person
    later = open_answer(platform, period="2020-Q4", ward=TUAN_GIAO).json()
    assert later["rows"]["II.3.participants"] == 100  # not a count of persons
    year = open_answer(platform, period="2020", province="11").json()
    halves = [open_answer(platform, period=f"2020-H{n}", province="11").json() for n in (1, 2)]
    assert year["rows"]["I.1"] is None
    assert [half["rows"]["I.1"] for half in halves] == [None, None]


def test_the_dashboard_renders_in_a_real_browser(
    platform: Services, tuan_giao: dict[str, Any], tmp_path: Path
) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine (make test installs Debian's chromium as root)")
    wait_for_rows(platform, tuan_giao["analyst"], period="2020", province="11")
    url = f"{platform.urls[Service.STATS]}/dashboard?year=2020&province=11"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path}",
             "--window-size=1280,1800"]  # fmt: skip
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True,
                         timeout=60, check=False)  # fmt: skip
    assert "Bảng số liệu tiếp nhận, xác minh, bảo vệ và hỗ trợ nạn nhân bị mua bán" in dom.stdout
    assert dom.stdout.count("<svg") == 7
    assert "Tỉnh Điện Biên" in dom.stdout
    ARTIFACTS.mkdir(exist_ok=True)
    shot = (ARTIFACTS / "dashboard.png").resolve()
    subprocess.run([browser, *flags, f"--screenshot={shot}", url], capture_output=True,
                   timeout=60, check=False)  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
