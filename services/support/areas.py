"""Which pre-2025 province a 2025 commune lies in.

Provinces merged on 2025-07-01, but their People's Councils' support tables still apply to
persons in the old regime, so a rate depends on the former province. Every 2025 commune kept the
code of one commune it was formed from, and that code still names its former province in the
pre-2025 register that ``vietnamadminunits`` ships.
"""

from functools import cache


@cache
def _former_provinces() -> dict[str, str]:
    from vietnamadminunits.database import query  # noqa: PLC0415 - heavy, loaded once on use

    rows = query("SELECT wardCode, provinceCode FROM admin_units_legacy")
    return {row["wardCode"]: row["provinceCode"] for row in rows}


def former_province(ward: str | None) -> str | None:
    """The pre-2025 province code of a 2025 commune code, if known."""
    return _former_provinces().get(ward) if ward else None
