"""The exported form says which rows are the official form's and which are the platform's own:
the official "BIỂU SỐ LIỆU" ends at 4.3, so no export numbers a row 4.4 or 4.5."""

import csv
import io
from typing import Any

from openpyxl import load_workbook

from services.stats.domain import ADDITIONS, ADDITIONS_TITLE, KEYS, ROWS
from services.stats.exports import csv_text, xlsx

REPORT: dict[str, Any] = {
    "period": {"from": "2026-01-01", "to": "2026-12-31"},
    "rows": dict.fromkeys(KEYS, 0),
    "as_of": {"last_recorded_at": None, "events": 0},
    "generated_at": "2026-12-02T00:00:00Z",
}


def test_the_official_form_has_no_rows_numbered_4_4_or_4_5() -> None:
    numbers = {number for _, _, _, number in ROWS}
    assert {"4.1", "4.2", "4.3"} <= numbers
    assert not numbers & {"4.4", "4.5"}
    label = dict((key, label) for key, label, *_ in ROWS)["II.4.3"]
    assert label.startswith("Số nạn nhân có nhu cầu vào lưu trú tạm thời")
    assert ADDITIONS
    assert all(key.startswith(("II.4.4", "II.4.5")) for key in ADDITIONS)


def test_the_csv_marks_each_platform_addition() -> None:
    rows = list(csv.DictReader(io.StringIO(csv_text(REPORT))))
    official = {row["key"]: row["official"] for row in rows}
    assert {key for key, yes in official.items() if yes == "no"} == set(ADDITIONS)
    assert official["II.4.3"] == "yes"


def test_the_excel_sheet_puts_the_platform_additions_under_their_own_heading() -> None:
    sheet = load_workbook(io.BytesIO(xlsx(REPORT, "Tỉnh Điện Biên"))).active
    assert sheet is not None
    cells = [row for row in sheet.iter_rows(values_only=True)]
    heading = next(i for i, row in enumerate(cells) if row[1] == ADDITIONS_TITLE)
    below = {row[4] for row in cells[heading + 1 :] if len(row) > 4 and row[4]}
    above = {row[4] for row in cells[:heading] if len(row) > 4 and row[4]}
    assert below == set(ADDITIONS)
    assert not above & set(ADDITIONS)
