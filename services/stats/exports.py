"""The form as agencies use it: an Excel sheet laid out like the official "BIỂU SỐ LIỆU"
(title, period, area, numbering, Vietnamese labels, units), and CSV; and the international
export of identified cases in HTCDS v2 (JSON, CSV)."""

import csv
import io
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from sqlalchemy.ext.asyncio import AsyncSession

from services.stats import htcds, store
from services.stats.domain import ADDITIONS, ADDITIONS_TITLE, ROWS, Period

SECTIONS = {"I.1": "I. THỰC TRẠNG TÌNH HÌNH", "II.1": "II. KẾT QUẢ CÔNG TÁC",
            ADDITIONS[0]: ADDITIONS_TITLE}  # fmt: skip
TITLE = "BIỂU SỐ LIỆU"
SUBTITLE = "Kết quả thực hiện công tác tiếp nhận, xác minh, bảo vệ và hỗ trợ nạn nhân bị mua bán"


def xlsx(report: dict[str, Any], area_name: str) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Biểu số liệu"
    sheet.append([TITLE])
    sheet.append([SUBTITLE])
    sheet.append([f"Kỳ báo cáo: {report['period']['from']} đến {report['period']['to']}"])
    sheet.append([f"Địa bàn: {area_name}"])
    sheet.append([])
    sheet.append(["TT", "Nội dung", "Đơn vị tính", "Số lượng", "Mã dòng"])
    header = sheet.max_row
    for key, label, unit, number in ROWS:
        if key in SECTIONS:
            sheet.append(["", SECTIONS[key]])
            sheet.cell(sheet.max_row, 2).font = Font(bold=True)
        sheet.append([number, label, unit, report["rows"][key], key])
    for row in (1, 2, header):
        for cell in sheet[row]:
            cell.font = Font(bold=True)
    sheet["A1"].alignment = Alignment(horizontal="center")
    for column, width in zip("ABCDE", (6, 70, 14, 14, 24), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.append([])
    sheet.append(
        [
            f"Số liệu tính đến: {report['as_of']['last_recorded_at'] or '-'} "
            f"({report['as_of']['events']} sự kiện); lập lúc {report['generated_at']}"
        ]
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_text(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["key", "number", "label", "unit", "value", "official"])
    for key, label, unit, number in ROWS:
        value = report["rows"][key]
        official = "no" if key in ADDITIONS else "yes"
        writer.writerow([key, number, label, unit, "" if value is None else value, official])
    return out.getvalue()


# --- the HTCDS export (services.stats.htcds, docs/htcds-export.md) ------------------------------


async def htcds_export(
    session: AsyncSession,
    period: Period,
    province: str | None,
    ward: str | None,
    *,
    k: int,
    max_suppressed: float,
) -> dict[str, Any]:
    """Identified cases of a period and area as k-anonymous HTCDS records, with their metadata
    (the route and ``safereturn stats export-htcds`` both answer with this)."""
    facts = await store.facts(session, province, ward)
    released = htcds.release(facts.persons, period, k, max_suppressed)
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "area": {"province": province, "ward": ward},
        **released,
        "as_of": await store.as_of(session),
        "generated_at": datetime.now(UTC).isoformat(),
    }


HTCDS_COLUMNS = ("yearOfRegistration", "prs_Gender", "ageBroad", "majorityStatus",
                 "prs_Citizenship", "vic_TraffickingStatus", "vic_TypeOfExploitation",
                 "hte_Type", "hte_Country", "org_ShippingCountry", "org_ShippingState")  # fmt: skip


def htcds_csv(export: dict[str, Any]) -> str:
    """The released records, one a line; a multiselect's values joined by ``;`` as HTCDS's
    spreadsheets do, an unknown value empty. Withheld fields have no column."""
    columns = [c for c in HTCDS_COLUMNS if c not in export["withheld"]]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for record in export["records"]:
        writer.writerow([_cell(record.get(column)) for column in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(value)
    return str(value)
