"""Code lists with their Vietnamese labels: the vocabulary reports are validated against.

Ethnic groups are the General Statistics Office's 54 codes (Decision 121-TCTK/PPCĐ, 1979);
countries are ISO 3166-1 alpha-2 (``pycountry``) with CLDR's Vietnamese names (``babel``);
provinces and communes are the 2025 units (``vietnam_provinces``).
"""

from enum import StrEnum
from functools import cache

import pycountry
from babel import Locale
from vietnam_provinces import Province, Ward


class Channel(StrEnum):
    HOTLINE_111 = "hotline_111"
    COMMUNE = "commune"
    POLICE = "police"
    BORDER_GUARD = "border_guard"
    MILITARY = "military"
    NGO = "ngo"
    FAMILY = "family"
    FOREIGN_AUTHORITY = "foreign_authority"
    SELF_REPORT = "self_report"


class ReceptionForm(StrEnum):
    SELF_RETURNED = "self_returned"
    RESCUED = "rescued"
    BILATERAL_HANDOVER = "bilateral_handover"
    SUSPECTED = "suspected"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class Scope(StrEnum):
    DOMESTIC = "domestic"
    ABROAD = "abroad"
    UNKNOWN = "unknown"


class Purpose(StrEnum):
    SEXUAL_EXPLOITATION = "sexual_exploitation"
    FORCED_LABOUR = "forced_labour"
    FORCED_MARRIAGE = "forced_marriage"
    ORGAN_REMOVAL = "organ_removal"
    SURROGACY = "surrogacy"
    CHILD_SALE_ADOPTION = "child_sale_adoption"
    OTHER = "other"


class ActivityKind(StrEnum):
    COMMUNICATION_SESSION = "communication_session"
    TRAINING = "training"
    DIRECTIVE_DOCUMENT = "directive_document"
    MATERIALS = "materials"


ETHNIC_GROUPS = [
    "Kinh",
    "Tày",
    "Thái",
    "Hoa",
    "Khơ-me",
    "Mường",
    "Nùng",
    "HMông",
    "Dao",
    "Gia-rai",
    "Ngái",
    "Ê-đê",
    "Ba na",
    "Xơ-Đăng",
    "Sán Chay",
    "Cơ-ho",
    "Chăm",
    "Sán Dìu",
    "Hrê",
    "Mnông",
    "Ra-glai",
    "Xtiêng",
    "Bru-Vân Kiều",
    "Thổ",
    "Giáy",
    "Cơ-tu",
    "Gié-Triêng",
    "Mạ",
    "Khơ-mú",
    "Co",
    "Tà-ôi",
    "Chơ-ro",
    "Kháng",
    "Xinh-mun",
    "Hà Nhì",
    "Chu ru",
    "Lào",
    "La Chí",
    "La Ha",
    "Phù Lá",
    "La Hủ",
    "Lự",
    "Lô Lô",
    "Chứt",
    "Mảng",
    "Pà Thẻn",
    "Co Lao",
    "Cống",
    "Bố Y",
    "Si La",
    "Pu Péo",
    "Brâu",
    "Ơ Đu",
    "Rơ măm",
]  # fmt: skip
"""The 54 groups in the General Statistics Office's order: group n has code f"{n:02d}"."""

LABELS: dict[str, dict[str, str]] = {
    "channels": {
        "hotline_111": "Tổng đài 111",
        "commune": "UBND xã, phường",
        "police": "Công an",
        "border_guard": "Bộ đội Biên phòng",
        "military": "Ban Chỉ huy Quân sự",
        "ngo": "Tổ chức phi chính phủ",
        "family": "Gia đình",
        "foreign_authority": "Cơ quan chức năng nước ngoài",
        "self_report": "Tự khai báo",
    },
    "reception_forms": {
        "self_returned": "Tự trở về",
        "rescued": "Được giải cứu",
        "bilateral_handover": "Trao trả song phương",
        "suspected": "Nghi bị mua bán (vắng mặt lâu ngày)",
    },
    "sexes": {"male": "Nam", "female": "Nữ", "unknown": "Không rõ"},
    "scopes": {"domestic": "Trong nước", "abroad": "Ra nước ngoài", "unknown": "Không rõ"},
    "purposes": {
        "sexual_exploitation": "Bóc lột tình dục",
        "forced_labour": "Cưỡng bức lao động",
        "forced_marriage": "Cưỡng ép kết hôn",
        "organ_removal": "Lấy bộ phận cơ thể",
        "surrogacy": "Mang thai hộ",
        "child_sale_adoption": "Mua bán, làm con nuôi trẻ em",
        "other": "Mục đích khác",
    },
    "activity_kinds": {
        "communication_session": "Buổi truyền thông",
        "training": "Tập huấn",
        "directive_document": "Văn bản chỉ đạo, điều hành",
        "materials": "Tài liệu truyền thông (pano, áp phích, tờ rơi)",
    },
    "ethnic_groups": {f"{n:02d}": name for n, name in enumerate(ETHNIC_GROUPS, start=1)},
}
KINH = "01"


@cache
def provinces() -> set[str]:
    """The 2025 province codes."""
    return {f"{p.code.value:02d}" for p in Province.iter_all()}


@cache
def wards() -> dict[str, str]:
    """Each 2025 commune code, and the code of its province."""
    return {f"{w.code.value:05d}": f"{w.province_code.value:02d}" for w in Ward.iter_all()}


@cache
def countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code → Vietnamese name (English where CLDR has none)."""
    vietnamese = Locale("vi").territories
    return {
        country.alpha_2: vietnamese.get(country.alpha_2, country.name)
        for country in sorted(pycountry.countries, key=lambda c: c.alpha_2)
    }


def catalogue(name: str) -> dict[str, str] | None:
    """A code list by name, or None if there is no such list."""
    if name == "countries":
        return countries()
    return LABELS.get(name)


CATALOGUES = sorted([*LABELS, "countries"])
