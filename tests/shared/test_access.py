"""Roles, areas and the permission matrix, as plain rules."""

import os
from pathlib import Path

import pytest
from fastapi import HTTPException

from shared.access import MATRIX_FILE, Area, AuditKind, Matrix, Principal, Role
from shared.audit import AuditContext, current_audit
from shared.guard import ensure_area
from shared.names import Service

PERMISSIONS_DOC = Path(__file__).parents[2] / "docs" / "permissions.md"


@pytest.mark.parametrize(
    ("scope", "province", "ward", "covered"),
    [
        (Area(), "11", "00001", True),
        (Area(), None, None, True),
        (Area("11"), "11", "00001", True),
        (Area("11"), "11", None, True),
        (Area("11"), "12", "00001", False),
        (Area("11"), None, None, False),
        (Area("11", "00001"), "11", "00001", True),
        (Area("11", "00001"), "11", "00002", False),
        (Area("11", "00001"), "11", None, False),
        (Area("11", "00001"), "12", "00001", False),
    ],
)
def test_an_area_covers_only_what_lies_within_it(
    scope: Area, province: str | None, ward: str | None, covered: bool
) -> None:
    assert scope.covers(province, ward) is covered


def test_a_commune_scope_needs_its_province() -> None:
    with pytest.raises(ValueError, match="province"):
        Area(None, "00001")


def test_levels() -> None:
    assert [Area().level, Area("11").level, Area("11", "00001").level] == [
        "national", "province", "commune",
    ]  # fmt: skip


def test_the_matrix_names_only_known_roles_and_services() -> None:
    matrix = Matrix.load(list(Service))
    assert matrix.rules
    assert all(rule.roles <= set(Role) for rule in matrix.rules)
    with pytest.raises(ValueError, match="unknown services"):
        Matrix.load(["verification"])


def test_writes_are_audited_by_default_and_reads_only_when_marked() -> None:
    matrix = Matrix.load(list(Service))
    for rule in matrix.rules:
        if rule.method == "POST":
            assert rule.audit is not AuditKind.NONE, rule
    assert matrix.rule(Service.STATS, "GET", "/v1/audit").audit is AuditKind.EXPORT  # type: ignore[union-attr]


def render(matrix: Matrix) -> str:
    roles = list(Role)
    lines = [
        "# Permission matrix",
        "",
        f"Generated from `{MATRIX_FILE.name}` (`shared/`), which every service enforces;",
        "regenerate with `SAFERETURN_UPDATE_SNAPSHOTS=1 make test`. ✓ = allowed; anything",
        "else is refused with 403. Without a valid token every endpoint answers 401, except",
        "`/health`, `/ready`, `/metrics`, `POST /oauth/token` and `/.well-known/jwks.json`.",
        "",
        "| service | endpoint | audited | " + " | ".join(roles) + " |",
        "|---|---|---|" + "---|" * len(roles),
    ]
    order = list(Service)
    for rule in sorted(matrix.rules, key=lambda r: (order.index(Service(r.service)), r.path)):
        marks = " | ".join("✓" if role in rule.roles else "" for role in roles)
        audited = "" if rule.audit is AuditKind.NONE else rule.audit.value
        lines.append(f"| {rule.service} | `{rule.method} {rule.path}` | {audited} | {marks} |")
    return "\n".join(lines) + "\n"


def test_the_documented_matrix_is_the_enforced_one() -> None:
    text = render(Matrix.load(list(Service)))
    if os.environ.get("SAFERETURN_UPDATE_SNAPSHOTS") == "1":
        PERMISSIONS_DOC.write_text(text)
    assert PERMISSIONS_DOC.read_text() == text


def test_a_case_outside_the_callers_area_is_refused_and_audited_with_the_case() -> None:
    verifier = Principal("sr-1", Role.VERIFIER, "Commune police", Area("11", "00001"), "t")
    context = AuditContext(service="verification", action="GET /v1/cases/{case_id}", trace_id=None)
    token = current_audit.set(context)
    try:
        ensure_area(verifier, "11", "00001", "case-own")
        assert context.case_id == "case-own"
        with pytest.raises(HTTPException) as refused:
            ensure_area(verifier, "11", "00002", "case-other")
    finally:
        current_audit.reset(token)
    assert refused.value.status_code == 403
    assert (context.case_id, context.reason) == ("case-other", "area")
