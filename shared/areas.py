"""The names of the 2025 administrative units behind the codes every event carries, for people
to read (messages, forms, dashboards)."""

from functools import cache

from vietnam_provinces import Province, ProvinceCode, VietNamDivisionType, Ward, WardCode


def area_name(province: str | None, ward: str | None, *, national: str = "-") -> str:
    """``("11", "03325")`` → ``"Xã Mường Phăng, Tỉnh Điện Biên"``; an unknown code as itself."""
    names = []
    try:
        if ward:
            names.append(Ward.from_code(WardCode(int(ward))).name)
        if province:
            found = Province.from_code(ProvinceCode(int(province)))
            tinh = found.division_type is VietNamDivisionType.TINH
            names.append(f"Tỉnh {found.name}" if tinh else found.name)  # cities carry theirs
    except (ValueError, KeyError):
        return ", ".join(code for code in (ward, province) if code)
    return ", ".join(names) or national


@cache
def province_of(ward: str) -> str | None:
    """The province code of a 2025 ward code (``"03325"`` → ``"11"``); None if there is none."""
    try:
        return f"{int(Ward.from_code(WardCode(int(ward))).province_code):02d}"
    except (ValueError, KeyError):
        return None


def province_codes() -> list[str]:
    """Every 2025 province code, two digits (``"01"`` … ``"96"``)."""
    return [f"{int(p.code):02d}" for p in Province.iter_all()]
