"""A small directory of agencies in Xã Mường Phăng (ward 03325), Điện Biên (province 11), beside
agencies of another commune, another province and the nation that must hear nothing; the shipped
routing rules, and helpers that route an event over that directory."""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from services.notify.domain import Agency, AgencyKind, Route, Target, load_routes, targets

ROOT = Path(__file__).resolve().parents[3]
ROUTES = load_routes(ROOT / "services/notify/routes.toml")
PROVINCE, WARD = "11", "03325"  # Điện Biên, Xã Mường Phăng
OTHER_WARD = "03334"  # another commune of Điện Biên
OTHER_PROVINCE, OTHER_PROVINCES_WARD = "12", "03390"  # Lai Châu
SHELTER = "Nhà tạm lánh Hoa Ban"
CASE_ID = "c-0001"


def agency(agency_id: str, kind: AgencyKind | str, province: str | None, ward: str | None = None,
           name: str = "", **changes: Any) -> Agency:  # fmt: skip
    values = {"emails": (f"{agency_id}@example.vn",)} | changes
    return Agency(agency_id, name or agency_id, str(kind), province, ward, **values)


K = AgencyKind
HERE = [  # the case's commune, and its province at provincial level
    agency("cp-mp", K.COMMUNE_POLICE, PROVINCE, WARD, phones=("+84 200 000 001",)),
    agency("cc-mp", K.COMMUNE_COMMITTEE, PROVINCE, WARD),
    agency("wu-mp", K.WOMENS_UNION, PROVINCE, WARD),
    agency("wu-11", K.WOMENS_UNION, PROVINCE),
    agency("pp-11", K.PROVINCIAL_POLICE, PROVINCE, language="en"),
    agency("bg-11", K.BORDER_GUARD, PROVINCE),
    agency("sp-11", K.SOCIAL_PROTECTION, PROVINCE),
    agency("cpr-11", K.CHILD_PROTECTION, PROVINCE, name="Trung tâm CTXH Điện Biên"),
    agency("ngo-11", K.NGO, PROVINCE, name=SHELTER, webhooks=("https://hoaban.example/hook",)),
]
OTHER_COMMUNE = [
    agency(f"{kind}-x", kind, PROVINCE, OTHER_WARD)
    for kind in (K.COMMUNE_POLICE, K.COMMUNE_COMMITTEE, K.WOMENS_UNION, K.CHILD_PROTECTION)
]
OTHER_PROVINCE_AGENCIES = [
    agency("pp-12", K.PROVINCIAL_POLICE, OTHER_PROVINCE),
    agency("bg-12", K.BORDER_GUARD, OTHER_PROVINCE),
    agency("sp-12", K.SOCIAL_PROTECTION, OTHER_PROVINCE),
    agency("cpr-12", K.CHILD_PROTECTION, OTHER_PROVINCE),
    agency("wu-12", K.WOMENS_UNION, OTHER_PROVINCE),
    agency("cp-12", K.COMMUNE_POLICE, OTHER_PROVINCE, OTHER_PROVINCES_WARD),
    agency("cc-12", K.COMMUNE_COMMITTEE, OTHER_PROVINCE, OTHER_PROVINCES_WARD),
    agency("ngo-12", K.NGO, OTHER_PROVINCE, name=SHELTER),  # the same name, elsewhere
]
NATIONAL = [agency("sp-vn", K.SOCIAL_PROTECTION, None), agency("cpr-vn", K.CHILD_PROTECTION, None)]
ELSEWHERE = OTHER_COMMUNE + OTHER_PROVINCE_AGENCIES + NATIONAL
DIRECTORY = HERE + ELSEWHERE


def route(route_id: str) -> list[Route]:
    (found,) = [r for r in ROUTES if r.id == route_id]
    return [found]


def context(**changes: Any) -> dict[str, Any]:
    return {"case_id": CASE_ID, "province": PROVINCE, "ward": WARD} | changes


def found(
    routes: Iterable[Route], event: str, directory: Iterable[Agency] = DIRECTORY, **changes: Any
) -> list[Target]:
    return targets(routes, event, context(**changes), directory)


def agencies(found_targets: Iterable[Target]) -> set[str]:
    """The agencies reached, by id (``agency:<id>:<channel>:<address>``)."""
    keys = [t.recipient_key.split(":") for t in found_targets]
    return {key[1] for key in keys if key[0] == "agency"}


def without(*agency_ids: str) -> list[Agency]:
    return [a for a in DIRECTORY if a.agency_id not in agency_ids]
