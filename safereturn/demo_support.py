"""The support step of the demo: entitlements at the law's rates, four eyes, two funding
sources, refusals with their legal reason, and a child referred to child-protection services.

Both persons were received in a commune of today's Tuyên Quang that was Hà Giang's before the
2025 merger, in spring 2025: the old regime, under Hà Giang's Resolution 15/2020 rates. Two
women handed over in July 2020 show the resolution's start, and a Lao woman trafficked into
Viet Nam what the law withholds from a foreign victim.
"""

import asyncio
import secrets
from functools import partial
from typing import Any

from safereturn import admin
from safereturn.scenario import ApiClient, Say, ScenarioError, poll
from shared.access import Role
from shared.events.base import business_today
from shared.names import Service

WARD = "00694"  # Phường Hà Giang 1 (Tuyên Quang, 08), formerly Hà Giang's (02)
BEING_IDENTIFIED_ON, IDENTIFIED_ON = "2025-05-05", "2025-04-01"
BUDGET_YEAR = 2025
HA_GIANG_FROM = "2020-07-20"  # Resolution 15/2020/NQ-HĐND in force
NATIONAL_FLOOR = 70_000  # Circular 84/2019/TT-BTC: road meals, VND a day at least
PROVIDER = "Trung tâm Công tác xã hội tỉnh Điện Biên"  # as notify's directory names it


def _person(ref: str, received: str, **person: Any) -> dict[str, Any]:
    return {
        "source_ref": f"BP-HG-{ref}", "channel": "border_guard", "received_at": received,
        "area": {"province": "08", "ward": WARD}, "reception_form": "bilateral_handover",
        "person": {"sex": "female", "ethnicity": "04", "nationality": "VN", **person},
        "trafficking": {"scope": "abroad", "destination_country": "CN",
                        "purposes": ["forced_marriage"]},
        "consent": {"services": True, "information_sharing": True, "statistics": True,
                    "recorded_by": "Đồn Biên phòng Thanh Thủy", "recorded_at": received},
    }  # fmt: skip


class Desk:
    """The clients of the support step, each an agency with its role and area."""

    def __init__(self, urls: Any, say: Say) -> None:
        made = [
            ("Đồn Biên phòng Thanh Thủy (demo)", Role.REPORTER, "08"),
            ("Công an tỉnh Tuyên Quang (demo)", Role.VERIFIER, "08"),
            ("Phòng Văn hóa - Xã hội Hà Giang 1 (demo)", Role.SUPPORT_OFFICER, "08"),
            ("Sở Y tế Tuyên Quang (demo)", Role.APPROVER, "08"),
            ("Sở Y tế Điện Biên (demo)", Role.SUPPORT_OFFICER, "11"),
            # a provider answers the referrals that name its agency, so no "(demo)" here
            (PROVIDER, Role.PROVIDER, "11"),
        ]
        self.ids: list[str] = []
        self.clients: list[ApiClient] = []
        for agency, role, province in made:
            quiet = admin.create_client(lambda _: None, agency, role, province, None)
            credentials = asyncio.run(quiet)
            say(f"  client for {agency}: {role}, province {province}")
            self.ids.append(credentials.client.client_id)
            self.clients.append(ApiClient(urls, credentials.client.client_id, credentials.secret))
        (self.reporter, self.verifier, self.officer, self.approver, self.officer_11,
         self.provider) = self.clients  # fmt: skip

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for client_id in self.ids:
            asyncio.run(admin.revoke_client(lambda _: None, client_id))


def _status(operator: ApiClient, case_id: str, status: str) -> dict[str, Any] | None:
    answer = operator.get(Service.SUPPORT, f"/v1/diagnostics/cases/{case_id}")
    found: dict[str, Any] | None = answer.json() if answer.status_code == 200 else None
    return found if found and found["status"] == status else None


def _case(desk: Desk, operator: ApiClient, body: dict[str, Any], identified: str | None) -> str:
    answer = desk.reporter.post(Service.INTAKE, "/v1/reports", json=body)
    if answer.status_code != 202:
        raise ScenarioError(f"report refused: {answer.status_code} {answer.text}")
    case_id: str = answer.json()["case_id"]
    if poll(partial(_status, operator, case_id, "being_identified"), 15.0) is None:
        raise ScenarioError(f"support never heard of case {case_id}")
    if identified:
        decision = {"outcome": "victim", "decided_at": identified, "evidence": "police_certificate"}
        desk.verifier.post(Service.VERIFICATION, f"/v1/cases/{case_id}/decision", json=decision)
        if poll(partial(_status, operator, case_id, "identified"), 15.0) is None:
            raise ScenarioError(f"support never saw case {case_id} identified")
    return case_id


def _grant(officer: ApiClient, case_id: str, say: Say, **body: Any) -> dict[str, Any] | None:
    answer = officer.post(Service.SUPPORT, f"/v1/cases/{case_id}/grants", json=body)
    what = f"{body['kind']} x {body.get('quantity', 1)}"
    if answer.status_code != 201:
        for error in answer.json().get("errors", []):
            say(f"    REFUSED {what:<24} {error['rule']}: {error['message']}")
        return None
    grant: dict[str, Any] = answer.json()
    say(f"    granted {what:<24} {grant['amount']:>11,} VND  {grant['status']:<16} "
        f"{grant['legal_basis']}")  # fmt: skip
    return grant


def _pay(officer: ApiClient, grant: dict[str, Any], amount: int, source: str, say: Say) -> None:
    body = {"amount": amount, "paid_at": grant["granted_on"], "method": "cash",
            "funding_source": source}  # fmt: skip
    key = {"Idempotency-Key": f"demo-{secrets.token_hex(6)}"}
    path = f"/v1/grants/{grant['grant_id']}/disbursements"
    first = officer.post(Service.SUPPORT, path, json=body, headers=key)
    retry = officer.post(Service.SUPPORT, path, json=body, headers=key)
    same = retry.json().get("disbursement_id") == first.json().get("disbursement_id")
    if first.status_code != 201 or not same:
        raise ScenarioError(f"payment failed: {first.status_code} {first.text}")
    say(f"    paid {amount:>11,} VND for {grant['kind']:<18} from {source:<20} "
        f"(a retry with the same key → {retry.status_code}, the same payment)")  # fmt: skip


def support_cases(urls: Any, operator: ApiClient, child_case: str, say: Say) -> None:
    desk = Desk(urls, say)
    try:
        _play(desk, operator, child_case, say)
    finally:
        desk.close()


def _play(desk: Desk, operator: ApiClient, child_case: str, say: Say) -> None:
    stamp = secrets.token_hex(3)
    being = _case(desk, operator, _person(f"{stamp}-1", BEING_IDENTIFIED_ON, age=24), None)
    say(f"  a person still being identified (case {being}), received {BEING_IDENTIFIED_ON}:")
    on = "2025-05-06"
    essentials = [
        _grant(desk.officer, being, say, kind="clothing", granted_at=on),
        _grant(desk.officer, being, say, kind="shelter_meals", quantity=10, granted_at=on),
        _grant(desk.officer, being, say, kind="road_meals", quantity=2, granted_at=on),
        _grant(desk.officer, being, say, kind="travel_fare", granted_at=on, amount=350_000,
               receipt_ref="Vé xe khách HG-TQ 0042"),
    ]  # fmt: skip
    _grant(desk.officer, being, say, kind="hardship_allowance", granted_at=on)

    victim = _case(desk, operator, _person(f"{stamp}-2", "2025-03-10", age=21), IDENTIFIED_ON)
    say(f"  an identified victim (case {victim}), identified {IDENTIFIED_ON}, poor household:")
    circumstances = {"poor_household": True, "household_evidence": "GCN hộ nghèo số 118/2025"}
    desk.officer.put(Service.SUPPORT, f"/v1/cases/{victim}/circumstances", json=circumstances)
    on = "2025-04-02"
    shelter = _grant(desk.officer, victim, say, kind="shelter_meals", quantity=30, granted_at=on)
    hardship = _grant(desk.officer, victim, say, kind="hardship_allowance", granted_at=on)
    _grant(desk.officer, victim, say, kind="shelter_meals", quantity=70, granted_at="2025-05-02")
    _grant(desk.officer, victim, say, kind="vocational_training", granted_at=_today(),
           amount=4_500_000, receipt_ref="HĐ học nghề 07")  # fmt: skip
    if shelter is None or hardship is None or None in essentials:
        raise ScenarioError("a grant the law allows was refused")
    approval = {"decision": "approve", "decided_at": "2025-04-03", "note": "Đủ hồ sơ"}
    own = desk.officer.post(Service.SUPPORT, f"/v1/grants/{hardship['grant_id']}/approval",
                            json=approval)  # fmt: skip
    approved = desk.approver.post(Service.SUPPORT, f"/v1/grants/{hardship['grant_id']}/approval",
                                  json=approval)  # fmt: skip
    say(f"  four eyes: the granting officer may not approve ({own.status_code}); the second "
        f"officer approves → {approved.json()['status']}")  # fmt: skip

    _budgets_and_payments(desk, [*essentials, shelter, approved.json()], say)
    _effective_dates(desk, operator, stamp, say)
    _foreign_victim(desk, operator, stamp, say)
    _refer_child(desk, child_case, say)


def _effective_dates(desk: Desk, operator: ApiClient, stamp: str, say: Say) -> None:
    """Road meals home for two women handed over in July 2020, either side of the day Hà
    Giang's resolution took effect: before it the national rules (only a floor is set)."""
    say(f"  Hà Giang's Resolution 15/2020 applies from {HA_GIANG_FROM}; two women handed over "
        "in July 2020, each two days on the road home:")  # fmt: skip
    before = _case(desk, operator, _person(f"{stamp}-3", "2020-07-17", age=27), None)
    national = _grant(desk.officer, before, say, kind="road_meals", quantity=2,
                      granted_at="2020-07-18", amount=2 * NATIONAL_FLOOR,
                      legal_basis="Thông tư 84/2019/TT-BTC (mức tối thiểu)")  # fmt: skip
    after = _case(desk, operator, _person(f"{stamp}-4", "2020-07-21", age=23), None)
    provincial = _grant(desk.officer, after, say, kind="road_meals", quantity=2,
                        granted_at="2020-07-22")  # fmt: skip
    if national is None or provincial is None or provincial["rate"] != 100_000:
        raise ScenarioError("the rates either side of Hà Giang's resolution are wrong")


def _foreign_victim(desk: Desk, operator: ApiClient, stamp: str, say: Say) -> None:
    """Decree 09/2013 Art. 23: the hardship allowance is for Vietnamese citizens and stateless
    persons residing in Viet Nam; a foreign victim receives essential needs and care."""
    body = _person(f"{stamp}-5", "2025-03-12", age=19, nationality="LA", ethnicity=None)
    body |= {"reception_form": "rescued",
             "trafficking": {"scope": "domestic", "purposes": ["forced_marriage"]}}  # fmt: skip
    case_id = _case(desk, operator, body, IDENTIFIED_ON)
    say(f"  a Lao woman trafficked into Viet Nam (case {case_id}), identified {IDENTIFIED_ON}:")
    if _grant(desk.officer, case_id, say, kind="hardship_allowance", granted_at="2025-04-02"):
        raise ScenarioError("a foreign victim was granted the hardship allowance")
    path, on = f"/v1/cases/{case_id}/entitlements", {"on": "2025-04-02"}
    entitled = desk.officer.get(Service.SUPPORT, path, params=on).json()
    kinds = ", ".join(sorted({e["kind"] for e in entitled["entitlements"]}))
    say(f"    she may receive: {kinds}")


def _today() -> str:
    return business_today().isoformat()


def _budgets_and_payments(desk: Desk, grants: list[dict[str, Any] | None], say: Say) -> None:
    """Budgets allocated on top of what earlier runs of the demo spent, so that every run pays
    the same; the figures shown are this run's."""
    say("  budgets for 2025 in Tuyên Quang, and payments from two funding sources:")
    spent_before = _spent(desk)
    ledger_before = _ledger(desk)
    sources = (("state_budget", 4_000_000), ("donor:IOM Việt Nam", 3_000_000))
    for source, amount in sources:
        budget = {"province": "08", "year": BUDGET_YEAR, "funding_source": source,
                  "amount": spent_before.get(source, 0) + amount}  # fmt: skip
        desk.approver.put(Service.SUPPORT, "/v1/budgets", json=budget)
    *essentials, shelter, hardship = [g for g in grants if g is not None]
    for grant in [*essentials, shelter]:
        _pay(desk.officer, grant, grant["amount"], "state_budget", say)
    _pay(desk.officer, hardship, hardship["amount"], "donor:IOM Việt Nam", say)
    over = desk.officer.post(
        Service.SUPPORT, f"/v1/grants/{shelter['grant_id']}/disbursements",
        json={"amount": 1, "paid_at": shelter["granted_on"], "method": "cash",
              "funding_source": "state_budget"},
        headers={"Idempotency-Key": f"demo-{secrets.token_hex(6)}"},
    )  # fmt: skip
    rules = ", ".join(f"{e['rule']} ({e['message']})" for e in over.json()["errors"])
    say(f"    one more đồng for shelter meals → {over.status_code}: {rules}")
    for row in _budgets(desk):
        earlier = spent_before.get(row["funding_source"], 0)
        say(f"    budget {row['funding_source']:<20} {row['amount'] - earlier:>11,} "
            f"allocated, {row['spent'] - earlier:>11,} spent, {row['remaining']:>11,} left"
            + (f"   (on top of {earlier:,} spent by earlier runs)" if earlier else ""))  # fmt: skip
    ledger = _ledger(desk)
    kinds = ", ".join(
        f"{kind} {amount - ledger_before['by_kind'].get(kind, 0):,}"
        for kind, amount in ledger["by_kind"].items()
        if amount != ledger_before["by_kind"].get(kind, 0)
    )
    total = ledger["total"] - ledger_before["total"]
    say(
        f"  ledger: {total:,} VND disbursed ({kinds})"
        + (f"; {ledger['total']:,} VND with earlier runs" if ledger_before["total"] else "")
    )


def _budgets(desk: Desk) -> list[dict[str, Any]]:
    params = {"province": "08", "year": BUDGET_YEAR}
    found: list[dict[str, Any]] = desk.approver.get(
        Service.SUPPORT, "/v1/budgets", params=params
    ).json()["budgets"]
    return found


def _spent(desk: Desk) -> dict[str, int]:
    """What earlier runs of the demo in this folder paid from each budget."""
    return {str(budget["funding_source"]): int(budget["spent"]) for budget in _budgets(desk)}


def _ledger(desk: Desk) -> dict[str, Any]:
    params = {"from": f"{BUDGET_YEAR}-01-01", "to": _today()}
    found: dict[str, Any] = desk.approver.get(Service.SUPPORT, "/v1/ledger", params=params).json()
    return found


def _refer_child(desk: Desk, child_case: str, say: Say) -> None:
    """The 16-year-old reported to hotline 111 declined support, but a child is always referred
    to child-protection services."""
    today = _today()
    entitlements = desk.officer_11.get(Service.SUPPORT, f"/v1/cases/{child_case}/entitlements")
    required = entitlements.json().get("required_referrals")
    referral = desk.officer_11.post(
        Service.SUPPORT, f"/v1/cases/{child_case}/referrals",
        json={"service": "child_protection", "referred_at": today,
              "provider": PROVIDER},
    )  # fmt: skip
    if referral.status_code != 201:
        raise ScenarioError(f"the child's referral was refused: {referral.text}")
    referral_id = referral.json()["referral_id"]
    step = {"on": today, "note": "Đã tiếp nhận, phân công cán bộ quản lý trường hợp"}
    accepted = desk.provider.post(Service.SUPPORT, f"/v1/referrals/{referral_id}/accept", json=step)
    if accepted.status_code != 200:
        raise ScenarioError(f"the provider could not accept: {accepted.text}")
    say(f"  the 16-year-old from the hotline (case {child_case}) declined support, yet a child "
        f"must be referred ({', '.join(required or [])}): support.referred → provider "
        f"{accepted.json()['status']}")  # fmt: skip
