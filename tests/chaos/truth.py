"""What the load generator was told was accepted (its 2xx answers): the ground truth every
check compares the platform with, and the plans it draws from a seed."""

import random
import threading
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

YEAR = 2025
# (province, ward): Điện Biên's Mường Phăng and Tuần Giáo, Tuyên Quang's Hà Giang 1 (support's
# old-regime rates apply there to a reception before 2025-07-01).
AREAS = (("11", "03325"), ("11", "03253"), ("08", "00694"))
SUPPORT_AREA = ("08", "00694")
SUPPORT_RECEIVED, SUPPORT_IDENTIFIED = date(2025, 3, 10), date(2025, 4, 1)
SUPPORT_GRANTED = date(2025, 4, 2)
DONOR = "donor:IOM Việt Nam"
COMMUNE_KINDS = ("commune_police", "commune_committee", "womens_union")
MAIL_DOMAIN = "chaos.example.gov.vn"
PROVINCE_KINDS = ("provincial_police", "social_protection", "border_guard", "child_protection")


@dataclass
class Case:
    index: int
    body: dict[str, Any]
    via: str  # "http" or "stream"
    original: int | None = None  # the case this one repeats (same ID number): merged at intake
    case_id: str | None = None
    merged_into: str | None = None
    decisions: list[tuple[str, date]] = field(default_factory=list)  # accepted, in order
    protections: list[tuple[date, int]] = field(default_factory=list)
    ambiguous_protections: list[tuple[date, int]] = field(default_factory=list)
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind → the grant
    payments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def source_ref(self) -> str:
        return str(self.body["source_ref"])

    @property
    def province(self) -> str:
        return str(self.body["area"]["province"])

    @property
    def ward(self) -> str:
        return str(self.body["area"]["ward"])

    @property
    def received_on(self) -> date:
        return date.fromisoformat(self.body["received_at"])

    @property
    def child(self) -> bool:
        return int(self.body["person"]["age"]) < 18

    def identified_on(self) -> date | None:
        """The latest decision counts: its date if a victim, else none."""
        if not self.decisions:
            return None
        outcome, on = self.decisions[-1]
        return on if outcome == "victim" else None


@dataclass
class Truth:
    """Accepted inputs, filled by the load's threads."""

    cases: list[Case] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    ambiguous_activities: list[dict[str, Any]] = field(default_factory=list)
    repeats: int = 0  # deliberate repeats sent (same source_ref, same entry, same key)
    ambiguous: int = 0  # calls whose outcome was unknown and had to be reconciled
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_repeat(self, n: int = 1) -> None:
        with self.lock:
            self.repeats += n

    def count_ambiguous(self) -> None:
        with self.lock:
            self.ambiguous += 1


def _day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def plan_cases(n: int, seed: int, run: str) -> list[Case]:
    """Reports of distinct persons, a few of them the same person again (merged at intake);
    every tenth in the support area on the dates support's old-regime rates apply."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for index in range(n):
        support = index % 10 == 3
        province, ward = SUPPORT_AREA if support else rng.choice(AREAS)
        received = SUPPORT_RECEIVED if support else _day(rng, date(YEAR, 1, 1), date(YEAR, 11, 30))
        abroad = rng.random() < 0.7
        person = {
            "sex": rng.choice(("female", "female", "male")),
            "age": 30 if support else rng.randrange(12, 60),
            "ethnicity": rng.choice(("01", "03", "04", "08")),
            # drawn for every case (the plan stays as it was); a supported person is Vietnamese:
            # the hardship allowance is not for a foreign victim (Decree 09/2013 Art. 23)
            "nationality": "VN" if rng.random() < 0.95 or support else "LA",
            "id_number": f"{zlib.crc32(f'{run}-{index}'.encode()):010d}{index % 100:02d}",
        }
        body = {
            "source_ref": f"CHAOS-{run}-{index:06d}", "channel": "commune",
            "received_at": received.isoformat(), "area": {"province": province, "ward": ward},
            "reception_form": rng.choice(("self_returned", "rescued", "bilateral_handover")),
            "person": person,
            "trafficking": {"scope": "abroad" if abroad else "domestic",
                            "destination_country": rng.choice(("CN", "LA", "KH", "MY", "JP"))
                            if abroad else None, "purposes": ["forced_labour"]},
            "consent": {"services": True, "information_sharing": True,
                        "statistics": support or rng.random() < 0.9,
                        "recorded_by": "Chaos desk", "recorded_at": received.isoformat()},
        }  # fmt: skip
        original = None
        via = "stream" if rng.random() < 0.3 else "http"
        if not support and index > 20 and rng.random() < 0.03:  # the same person again
            first = cases[rng.randrange(index - 20)]
            if first.via == "http" and first.original is None and first.index % 10 != 3:
                original, via = first.index, "http"
                body["area"] = dict(first.body["area"])
                body["person"] = dict(person, id_number=first.body["person"]["id_number"])
        cases.append(Case(index, body, via, original))
    return cases


def plan_activities(n: int, seed: int) -> list[dict[str, Any]]:
    """Outreach activities, each with a fingerprint (its leaflet count) to find its event by."""
    rng = random.Random(seed + 1)
    activities = []
    for index in range(n):
        province, ward = rng.choice(AREAS)
        kind = rng.choice(("communication_session", "training", "materials", "directive_document"))
        activities.append({
            "kind": kind, "date": _day(rng, date(YEAR, 1, 1), date(YEAR, 12, 31)).isoformat(),
            "area": {"province": province, "ward": ward}, "sessions": rng.randrange(1, 5),
            "participants": rng.randrange(10, 200), "posters": rng.randrange(0, 3),
            "leaflets": 100_000 + index,
        })  # fmt: skip
    return activities


def directory() -> list[dict[str, Any]]:
    """Every agency kind in every commune and province of the load, one mailbox each."""
    agencies = []
    for province in sorted({p for p, _ in AREAS}):
        for kind in PROVINCE_KINDS:
            box = f"{kind}.{province}@{MAIL_DOMAIN}"
            agencies.append({"name": f"{kind} {province}", "kind": kind, "province": province,
                             "ward": None, "emails": [box]})  # fmt: skip
    for province, ward in AREAS:
        for kind in COMMUNE_KINDS:
            box = f"{kind}.{ward}@{MAIL_DOMAIN}"
            agencies.append({"name": f"{kind} {ward}", "kind": kind, "province": province,
                             "ward": ward, "emails": [box]})  # fmt: skip
    return agencies


def expected_mail(case: Case) -> list[tuple[str, str]]:
    """(event type, mailbox) pairs routes.toml sends for what was accepted on this case."""
    commune = {kind: f"{kind}.{case.ward}@{MAIL_DOMAIN}" for kind in COMMUNE_KINDS}
    province = {kind: f"{kind}.{case.province}@{MAIL_DOMAIN}" for kind in PROVINCE_KINDS}
    pairs = [("case.received", box) for box in (commune["commune_police"],
             commune["commune_committee"], province["social_protection"])]  # fmt: skip
    if case.body["reception_form"] == "bilateral_handover":
        pairs += [("case.received", province["border_guard"]),
                  ("case.received", province["provincial_police"])]  # fmt: skip
    if case.child:
        pairs.append(("case.received", province["child_protection"]))
    if case.decisions and case.decisions[0][0] == "victim":
        pairs += [("case.identified", box) for box in (province["social_protection"],
                  commune["womens_union"], commune["commune_committee"])]  # fmt: skip
    for _ in case.protections:
        pairs += [("protection.ordered", commune["commune_police"]),
                  ("protection.ordered", commune["commune_committee"])]  # fmt: skip
    if "hardship_allowance" in case.grants:
        pairs.append(("support.granted", province["social_protection"]))
    return pairs
