"""The dashboard page: Vietnamese, charts drawn as SVG on the server from the suppressed public
aggregates, no script and no external asset, so it works with no internet."""

from html import escape
from typing import Any

from services.stats.domain import DESTINATIONS, KINDS
from shared.areas import area_name

COUNTRIES = {"CN": "Trung Quốc", "LA": "Lào", "KH": "Campuchia", "TH": "Thái Lan",
             "MY": "Malaysia", "GB": "Anh", "RU": "Nga", "other": "Nước khác"}  # fmt: skip
FORMS = {"self_returned": "Tự trở về", "rescued": "Được giải cứu",
         "bilateral_handover": "Trao trả song phương"}  # fmt: skip
KIND_LABELS = {
    "clothing": "Quần áo", "medicine": "Thuốc", "road_meals": "Tiền ăn đi đường",
    "travel_fare": "Tiền đi lại", "shelter_meals": "Tiền ăn lưu trú", "medical_care": "Y tế",
    "health_insurance": "Bảo hiểm y tế", "psychological_counselling": "Tâm lý",
    "legal_aid": "Pháp lý", "education": "Học văn hóa", "vocational_training": "Học nghề",
    "hardship_allowance": "Trợ cấp khó khăn",
}  # fmt: skip
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2937;background:#f8fafc}
h1{font-size:1.6rem}h2{font-size:1.1rem;margin:0 0 .5rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1.2rem}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:1rem}
.note{color:#6b7280;font-size:.85rem}
"""


def bars(title: str, values: list[tuple[str, int | None]], unit: str = "người") -> str:
    """A horizontal bar chart as SVG; a suppressed value shows as "<k", without a bar."""
    width, row, label_w = 400, 26, 150
    top = max([v for _, v in values if v] + [1])
    parts = []
    for i, (label, value) in enumerate(values):
        y = i * row
        length = 0 if not value else int((width - label_w - 90) * value / top)
        shown = "ẩn (số nhỏ)" if value is None else f"{value:,}".replace(",", ".")
        parts.append(
            f'<text x="0" y="{y + 17}" font-size="13">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{length}" height="18" fill="#2563eb"/>'
            f'<text x="{label_w + length + 6}" y="{y + 17}" font-size="13">{shown}</text>'
        )
    height = row * len(values) + 4
    return (f'<section><h2>{escape(title)}</h2><svg role="img" aria-label="{escape(title)}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'{"".join(parts)}</svg><p class="note">Đơn vị: {unit}</p></section>')  # fmt: skip


def page(
    year: int,
    *,
    province: str | None,
    quarters: list[dict[str, int | None]],
    whole: dict[str, int | None],
    as_of: dict[str, Any],
    verifications: tuple[int | None, int | None],
) -> str:
    rows = whole
    charts = [
        bars(f"Số người được tiếp nhận theo quý, năm {year}",
             [(f"Quý {i + 1}", q["I.1"]) for i, q in enumerate(quarters)]),
        bars(f"Nạn nhân được xác định theo quý, năm {year}",
             [(f"Quý {i + 1}", q["I.2"]) for i, q in enumerate(quarters)]),
        bars("Nạn nhân theo giới tính và độ tuổi", [
            ("Nam", rows["I.2.a.male"]), ("Nam dưới 18", rows["I.2.a.male.under18"]),
            ("Nữ", rows["I.2.a.female"]), ("Nữ dưới 18", rows["I.2.a.female.under18"])]),
        bars("Nơi bị mua bán đến",
             [("Trong nước", rows["I.2.d.domestic"])]
             + [(COUNTRIES[c], rows[f"I.2.d.abroad.{c}"]) for c in (*DESTINATIONS, "other")]),
        bars("Hình thức tiếp nhận", [(FORMS[f], rows[f"I.2.e.{f}"]) for f in FORMS]),
        bars("Tiền hỗ trợ đã chi (chỉ tiêu bổ sung, ngoài biểu chính thức)",
             [(KIND_LABELS[k], rows[f"II.4.5.vnd.{k}"]) for k in KINDS],
             unit="đồng"),
        bars("Xác minh đang mở", [("Đang xác minh", verifications[0]),
                                  ("Quá hạn", verifications[1])], unit="trường hợp"),
    ]  # fmt: skip
    where = escape(area_name(province, None, national="Toàn quốc"))
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>SafeReturn — Bảng số liệu</title>
<style>{STYLE}</style></head><body>
<h1>Bảng số liệu tiếp nhận, xác minh, bảo vệ và hỗ trợ nạn nhân bị mua bán</h1>
<p>Địa bàn: <strong>{where}</strong> · Năm {year} ·
Tổng số người được tiếp nhận: <strong>{rows["I.1"] if rows["I.1"] is not None else "ẩn"}</strong>
· Số liệu đến: {escape(str(as_of.get("last_recorded_at") or "-"))}
({as_of.get("events", 0)} sự kiện)</p>
<div class="grid">{"".join(charts)}</div>
<p class="note">Số liệu công khai: các ô có ít người bị ẩn để không thể nhận diện ai.</p>
</body></html>"""
