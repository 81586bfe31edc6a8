"""Who may do what, where: roles, area scope and the permission matrix.

Pure: the matrix is data (``permissions.toml``), the rules are plain functions.
"""

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

MATRIX_FILE = Path(__file__).with_name("permissions.toml")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Role(StrEnum):
    REPORTER = "reporter"  # submits reports and activities
    VERIFIER = "verifier"  # police / border guard: decisions and protection
    SUPPORT_OFFICER = "support_officer"  # grants, disbursements, referrals
    APPROVER = "approver"  # the second officer for grants above a threshold
    PROVIDER = "provider"  # a service provider answering referrals
    ANALYST = "analyst"  # statistics
    AUDITOR = "auditor"  # the audit log
    INTEGRATOR = "integrator"  # webhook subscriptions (its stream: a Redis user)
    ADMIN = "admin"  # clients and operations
    SERVICE = "service"  # another SafeReturn service acting on its own behalf


class AuditKind(StrEnum):
    WRITE = "write"
    PERSONAL_DATA = "personal_data"
    EXPORT = "export"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Area:
    """Where a client acts: a commune (ward), a province, or the whole country (neither)."""

    province: str | None = None
    ward: str | None = None

    def __post_init__(self) -> None:
        if self.ward and not self.province:
            raise ValueError("a commune scope needs its province")

    @property
    def level(self) -> str:
        return "commune" if self.ward else "province" if self.province else "national"

    def covers(self, province: str | None, ward: str | None) -> bool:
        """Whether a case (or anything located) in ``province``/``ward`` is within this area."""
        if self.province is None:
            return True
        if province != self.province:
            return False
        return self.ward is None or ward == self.ward


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    client_id: str
    role: Role
    agency: str
    area: Area
    token_id: str


@dataclass(frozen=True, slots=True)
class Rule:
    service: str
    method: str
    path: str
    roles: frozenset[Role]
    audit: AuditKind
    summary: str

    def allows(self, role: Role) -> bool:
        return role in self.roles


class Matrix:
    """The permission matrix of the whole platform, looked up per service."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._index = {(r.service, r.method, r.path): r for r in rules}

    @classmethod
    def load(cls, services: list[str], path: Path = MATRIX_FILE) -> "Matrix":
        document = tomllib.loads(path.read_text())
        rules = [rule for entry in document["endpoint"] for rule in _rules(entry, services)]
        return cls(rules)

    def rule(self, service: str, method: str, path: str) -> Rule | None:
        return self._index.get((service, method, path))

    def for_service(self, service: str) -> list[Rule]:
        return [r for r in self.rules if r.service == service]


def _rules(entry: dict[str, Any], services: list[str]) -> list[Rule]:
    method = entry["method"].upper()
    default_audit = AuditKind.WRITE if method in WRITE_METHODS else AuditKind.NONE
    targets = services if "*" in entry["services"] else entry["services"]
    unknown = set(targets) - set(services)
    if unknown:
        raise ValueError(f"permission matrix names unknown services {sorted(unknown)}")
    return [
        Rule(
            service=service,
            method=method,
            path=entry["path"],
            roles=frozenset(Role(role) for role in entry["roles"]),
            audit=AuditKind(entry.get("audit", default_audit)),
            summary=entry.get("summary", ""),
        )
        for service in targets
    ]
