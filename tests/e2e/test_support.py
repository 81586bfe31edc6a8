"""Support on running services: entitlements at the province's legal rates, grants with four
eyes, a ledger that never pays more than granted or budgeted, referrals, closure."""

import time
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from shared.names import Service, Stream
from tests.e2e.conftest import Services
from tests.e2e.test_reports import NAME, TODAY, events, post, published, report

HA_GIANG_WARD = "00694"  # a 2025 commune of Tuyên Quang (08) that was Hà Giang's (02)
OLD_REGIME_RECEIVED = date(2025, 3, 10)
IDENTIFIED = date(2025, 4, 1)
CTXH = "Trung tâm Công tác xã hội tỉnh Điện Biên"  # a provider: the agency its client is of


class Officer:
    """Calls support's API with one client's token."""

    def __init__(
        self, platform: Services, role: str, province: str | None = "08", **agency: str
    ) -> None:
        self.platform = platform
        self.headers = {"Authorization": f"Bearer {platform.token(role, province, **agency)}"}

    @property
    def url(self) -> str:  # a restarted service listens on a new port
        return self.platform.urls[Service.SUPPORT]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, headers=self.headers)

    def post(self, path: str, body: Any, **headers: str) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, headers=self.headers | headers)

    def put(self, path: str, body: Any) -> httpx.Response:
        return httpx.put(f"{self.url}{path}", json=body, headers=self.headers)

    def grant(self, case_id: str, **body: Any) -> httpx.Response:
        return self.post(f"/v1/cases/{case_id}/grants", body)


@pytest.fixture(scope="module")
def officer(platform: Services) -> Officer:
    return Officer(platform, "support_officer")


@pytest.fixture(scope="module")
def approver(platform: Services) -> Officer:
    return Officer(platform, "approver")


def old_regime_case(platform: Services, ref: str, *, identified: bool, **changes: Any) -> str:
    """A person received in former Hà Giang before 2025-07-01, identified on 2025-04-01."""
    received = OLD_REGIME_RECEIVED.isoformat()
    body = report(ref, received_at=received, area={"province": "08", "ward": HA_GIANG_WARD},
                  accompanying_minors=[], **changes)  # fmt: skip
    body["person"]["birth_date"] = "1996-05-02"
    body["consent"]["recorded_at"] = received
    answer = post(platform, "/v1/reports", body, platform.token("reporter"))
    assert answer.status_code == 202, answer.text
    case_id: str = answer.json()["case_id"]
    published(platform, Stream.CASES, "verification.opened", "case_id", case_id)
    if identified:
        decided = httpx.post(
            f"{platform.urls[Service.VERIFICATION]}/v1/cases/{case_id}/decision",
            json={"outcome": "victim", "decided_at": IDENTIFIED.isoformat(),
                  "evidence": "police_certificate"},
            headers={"Authorization": f"Bearer {platform.token('verifier', '08')}"},
        )  # fmt: skip
        assert decided.status_code == 200, decided.text
    wait_for_support(platform, case_id, "identified" if identified else "being_identified")
    return case_id


def wait_for_support(platform: Services, case_id: str, status: str) -> None:
    url = f"{platform.urls[Service.SUPPORT]}/v1/diagnostics/cases/{case_id}"
    admin = platform.auth()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        answer = httpx.get(url, headers=admin)
        if answer.status_code == 200 and answer.json()["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"support never saw {case_id} {status}")


def rules(answer: httpx.Response) -> list[str]:
    assert answer.headers["content-type"] == "application/problem+json", answer.text
    return [error["rule"] for error in answer.json()["errors"]]


def test_an_identified_victim_is_granted_at_the_provinces_rates_with_four_eyes_above_the_threshold(
    platform: Services, officer: Officer, approver: Officer
) -> None:
    case_id = old_regime_case(platform, "s-victim", identified=True)
    assert rules(officer.grant(case_id, kind="hardship_allowance", granted_at="2025-04-02")) == [
        "condition.poor_household"
    ]
    poor = {"poor_household": True, "household_evidence": "GCN hộ nghèo 12/2025"}
    assert officer.put(f"/v1/cases/{case_id}/circumstances", poor).status_code == 200

    shelter = officer.grant(case_id, kind="shelter_meals", quantity=30, granted_at="2025-04-02")
    assert shelter.status_code == 201, shelter.text
    assert shelter.json() | {"grant_id": "-"} == shelter.json() | {
        "grant_id": "-", "amount": 1_800_000, "rate": 60_000, "status": "approved",
        "regime": "law-66-2011", "rule": "ha-giang-15-2020/shelter_meals", "group": "victim",
    }  # fmt: skip
    # Three months from 2025-04-02 is 91 days, 30 of them granted.
    too_long = officer.grant(case_id, kind="shelter_meals", quantity=62, granted_at="2025-05-02")
    assert (too_long.status_code, rules(too_long)) == (422, ["cap.exceeded"])
    assert "61" in too_long.json()["errors"][0]["message"]

    hardship = officer.grant(case_id, kind="hardship_allowance", granted_at="2025-04-02")
    assert hardship.status_code == 201, hardship.text
    assert (hardship.json()["amount"], hardship.json()["status"]) == (3_000_000, "pending_approval")
    grant_id = hardship.json()["grant_id"]
    decision = {"decision": "approve", "decided_at": "2025-04-03"}
    assert officer.post(f"/v1/grants/{grant_id}/approval", decision).status_code == 403
    second_officer_as_own = Officer(platform, "approver")
    pending = second_officer_as_own.get("/v1/grants", status="pending_approval").json()["grants"]
    assert grant_id in [g["grant_id"] for g in pending]
    approved = approver.post(f"/v1/grants/{grant_id}/approval", decision)
    assert (approved.status_code, approved.json()["status"]) == (200, "approved"), approved.text
    again = second_officer_as_own.post(f"/v1/grants/{grant_id}/approval", decision)
    assert (again.status_code, rules(again)) == (409, ["grant.decided"])
    assert (
        published(platform, Stream.CASES, "support.approved", "grant_id", grant_id)["amount"]
        == 3_000_000
    )

    once_only = officer.grant(case_id, kind="hardship_allowance", granted_at="2025-04-05")
    assert rules(once_only) == ["cap.exhausted"]
    late = officer.grant(case_id, kind="vocational_training", granted_at=TODAY.isoformat(),
                         amount=4_000_000, receipt_ref="HĐ-01")  # fmt: skip
    assert rules(late) == ["condition.within_12_months"]

    granted = [
        e for e in events(platform, Stream.CASES, "support.granted") if e["case_id"] == case_id
    ]
    assert sorted(e["amount"] for e in granted) == [1_800_000, 3_000_000]
    assert all(NAME not in str(e) for e in granted)


def test_a_person_being_identified_gets_essential_needs_and_travel_but_not_what_victims_get(
    platform: Services, officer: Officer
) -> None:
    case_id = old_regime_case(platform, "s-being", identified=False)
    assert officer.get(f"/v1/cases/{case_id}/entitlements", on="9999-12-31").status_code == 200
    entitled = officer.get(f"/v1/cases/{case_id}/entitlements", on="2025-05-06").json()
    kinds = {e["kind"]: e for e in entitled["entitlements"]}
    assert (kinds["clothing"]["rate"], kinds["road_meals"]["rate"]) == (500_000, 100_000)
    refused = {n["kind"]: n["reasons"] for n in entitled["not_entitled"]}
    assert refused["hardship_allowance"][0]["rule"] == "group.being_identified"

    clothing = officer.grant(case_id, kind="clothing", granted_at="2025-03-11")
    meals = officer.grant(case_id, kind="road_meals", quantity=2, granted_at="2025-03-11")
    fare = officer.grant(case_id, kind="travel_fare", granted_at="2025-03-11", amount=350_000,
                         receipt_ref="VE-XE-0042")  # fmt: skip
    assert [a.status_code for a in (clothing, meals, fare)] == [201, 201, 201], fare.text
    assert [a.json()["amount"] for a in (clothing, meals, fare)] == [500_000, 200_000, 350_000]
    assert rules(officer.grant(case_id, kind="travel_fare", granted_at="2025-03-11")) == [
        "amount.required", "receipt.required"
    ]  # fmt: skip
    hardship = officer.grant(case_id, kind="hardship_allowance", granted_at="2025-03-11")
    assert (hardship.status_code, rules(hardship)[0]) == (422, "group.being_identified")
    float_money = officer.grant(case_id, kind="travel_fare", granted_at="2025-03-11",
                                amount=350_000.5, receipt_ref="X")  # fmt: skip
    assert float_money.status_code == 422
    assert [e["field"] for e in float_money.json()["errors"]] == ["amount"]
    unknown = officer.grant(case_id, kind="spa_weekend", granted_at="2025-03-11")
    assert [e["field"] for e in unknown.json()["errors"]] == ["kind"]


def test_where_the_amount_is_unknown_a_grant_needs_an_explicit_amount_and_basis(
    platform: Services
) -> None:  # fmt: skip
    answer = post(platform, "/v1/reports", report("s-2025"), platform.token("reporter"))
    case_id = answer.json()["case_id"]
    wait_for_support(platform, case_id, "being_identified")
    officer = Officer(platform, "support_officer", "11")
    unable = {"unable_to_pay": True}  # Law 53/2024: road meals for a person unable to pay
    bare = officer.grant(case_id, kind="road_meals", quantity=2, granted_at=TODAY.isoformat(),
                         declared=unable)  # fmt: skip
    assert (bare.status_code, rules(bare)) == (422, ["amount.unknown"])
    basis = "Quyết định số 12/2026/QĐ-UBND tỉnh Điện Biên"
    explicit = officer.grant(case_id, kind="road_meals", quantity=2, granted_at=TODAY.isoformat(),
                             amount=240_000, legal_basis=basis, declared=unable)  # fmt: skip
    assert explicit.status_code == 201, explicit.text
    assert (explicit.json()["legal_basis"], explicit.json()["regime"]) == (basis, "law-53-2024")


def test_law_53_2024_art_37_what_a_grant_must_declare_and_what_a_foreigner_may_not_receive(
    platform: Services,
) -> None:
    """The nationality travels from the report to support as a coded fact; circumstances are
    declared with the grant, and the entitlements say which."""
    officer = Officer(platform, "support_officer", "11")
    answer = post(platform, "/v1/reports", report("s-art37"), platform.token("reporter"))
    case_id = answer.json()["case_id"]
    wait_for_support(platform, case_id, "being_identified")
    entitled = officer.get(f"/v1/cases/{case_id}/entitlements").json()
    road = next(e for e in entitled["entitlements"] if e["kind"] == "road_meals")
    assert [r["field"] for r in road["requires"]] == ["declared.unable_to_pay"]
    fare = {"kind": "travel_fare", "granted_at": TODAY.isoformat(), "amount": 300_000,
            "receipt_ref": "VE-XE-77"}  # fmt: skip
    undeclared = officer.grant(case_id, **fare)
    assert undeclared.status_code == 422
    assert [(e["rule"], e["field"]) for e in undeclared.json()["errors"]] == [
        ("declaration.required", "declared.unable_to_pay")
    ]
    declared = officer.grant(case_id, **fare, declared={"unable_to_pay": True})
    assert declared.status_code == 201, declared.text
    assert declared.json()["declared"] == {"unable_to_pay": True}

    body = report("s-foreign")
    body["person"]["nationality"] = "LA"
    answer = post(platform, "/v1/reports", body, platform.token("reporter"))
    foreign = answer.json()["case_id"]
    wait_for_support(platform, foreign, "being_identified")
    refused = officer.grant(foreign, kind="travel_fare", granted_at=TODAY.isoformat(),
                            amount=300_000, receipt_ref="VE-XE-78",
                            declared={"unable_to_pay": True})  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{
        "field": "kind", "rule": "group.foreign_being_identified",
        "message": "Luật 53/2024/QH15, Điều 37: a foreign person being identified does not "
                   "receive travel_fare",
    }]  # fmt: skip
    shown = officer.get(f"/v1/cases/{foreign}/entitlements").json()
    reasons = {n["kind"]: n["reasons"] for n in shown["not_entitled"]
               if n["beneficiary"] == "person"}  # fmt: skip
    assert reasons["travel_fare"][0]["rule"] == "group.foreign_being_identified"
    assert "legal_aid" in {e["kind"] for e in shown["entitlements"] if e["beneficiary"] == "person"}


def test_law_53_2024_art_37_a_person_back_from_abroad_is_no_longer_in_the_abroad_group(
    platform: Services,
) -> None:
    """Being abroad is coded at intake; once the person is back in Viet Nam the officer says so
    in the circumstances, and travel home is no longer refused for the group abroad."""
    officer = Officer(platform, "support_officer", "11")
    body = report("s-abroad")
    body["person"]["abroad"] = True
    answer = post(platform, "/v1/reports", body, platform.token("reporter"))
    case_id = answer.json()["case_id"]
    wait_for_support(platform, case_id, "being_identified")
    fare = {"kind": "travel_fare", "granted_at": TODAY.isoformat(), "amount": 300_000,
            "receipt_ref": "VE-XE-79", "declared": {"unable_to_pay": True}}  # fmt: skip
    abroad = officer.grant(case_id, **fare)
    assert abroad.status_code == 422
    assert [e["rule"] for e in abroad.json()["errors"]] == ["group.being_identified_abroad"]
    back = officer.put(f"/v1/cases/{case_id}/circumstances", {"abroad": False})
    assert back.status_code == 200, back.text
    granted = officer.grant(case_id, **fare)
    assert granted.status_code == 201, granted.text


def pay(officer: Officer, grant_id: str, amount: int, source: str, key: str) -> httpx.Response:
    body = {"amount": amount, "paid_at": "2025-04-10", "method": "cash", "funding_source": source}
    return officer.post(f"/v1/grants/{grant_id}/disbursements", body, **{"Idempotency-Key": key})


def test_payments_stay_within_grant_and_budget_and_a_retried_payment_is_made_once(
    platform: Services, officer: Officer, approver: Officer
) -> None:
    case_id = old_regime_case(platform, "s-pay", identified=True)
    grant = officer.grant(case_id, kind="shelter_meals", quantity=30, granted_at="2025-04-02")
    grant_id = grant.json()["grant_id"]
    for source, amount in (("state_budget", 1_500_000), ("donor:IOM Việt Nam", 5_000_000)):
        body = {"province": "08", "year": 2025, "funding_source": source, "amount": amount}
        assert approver.put("/v1/budgets", body).status_code == 200
    assert pay(officer, grant_id, 100, "donor:Unfunded", "k-none").json()["errors"][0]["rule"] == (
        "budget.missing"
    )

    key = f"pay-{uuid.uuid4()}"
    first = pay(officer, grant_id, 1_000_000, "state_budget", key)
    retry = pay(officer, grant_id, 1_000_000, "state_budget", key)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    reused = pay(officer, grant_id, 999, "state_budget", key)
    assert (reused.status_code, rules(reused)) == (422, ["idempotency.reused"])
    other = officer.grant(case_id, kind="road_meals", quantity=1, granted_at="2025-04-02")
    elsewhere = pay(officer, other.json()["grant_id"], 1_000_000, "state_budget", key)
    assert rules(elsewhere) == ["idempotency.reused"]  # a key pays one grant, never another
    for source in ("donor:IOM\n", "donor:\u0000x"):
        odd = {"province": "08", "year": 2025, "funding_source": source, "amount": 1}
        assert approver.put("/v1/budgets", odd).status_code == 422
    assert approver.get("/v1/budgets", province="\u0661\u0661").status_code == 422

    over_grant = pay(officer, grant_id, 900_000, "donor:IOM Việt Nam", "k-over-grant")
    assert rules(over_grant) == ["disbursement.above_grant"]
    over_budget = pay(officer, grant_id, 600_000, "state_budget", "k-over-budget")
    assert rules(over_budget) == ["budget.exceeded"]
    assert pay(officer, grant_id, 500_000, "state_budget", "k-rest-1").status_code == 201
    assert pay(officer, grant_id, 300_000, "donor:IOM Việt Nam", "k-rest-2").status_code == 201
    assert rules(pay(officer, grant_id, 1, "state_budget", "k-after")) == [
        "disbursement.above_grant", "budget.exceeded"
    ]  # fmt: skip

    budgets = {b["funding_source"]: b for b in
               approver.get("/v1/budgets", year=2025).json()["budgets"]}  # fmt: skip
    assert budgets["state_budget"]["remaining"] == 0
    assert budgets["donor:IOM Việt Nam"]["remaining"] == 4_700_000
    paid = disbursed(platform, grant_id, 1_800_000)
    assert sorted(e["amount"] for e in paid) == [300_000, 500_000, 1_000_000]
    ledger = approver.get("/v1/ledger", **{"from": "2025-04-01", "to": "2025-04-30"}).json()
    everything = [e for e in events(platform, Stream.CASES, "support.disbursed")
                  if e["province"] == "08" and e["paid_on"].startswith("2025-04")]  # fmt: skip
    assert ledger["total"] == sum(e["amount"] for e in everything)
    by_source: dict[str, int] = {}
    for event in everything:
        source = event["funding_source"]
        by_source[source] = by_source.get(source, 0) + event["amount"]
    assert ledger["by_funding_source"] == dict(sorted(by_source.items()))
    assert ledger["by_month"] == {"2025-04": ledger["total"]}
    metrics = httpx.get(f"{officer.url}/metrics").text
    assert 'safereturn_support_disbursed_vnd_total{funding="donor",kind="shelter_meals",' in metrics


def disbursed(platform: Services, grant_id: str, total: int) -> list[dict[str, Any]]:
    """The grant's ``support.disbursed`` events, once they add up to ``total`` (one per id)."""
    deadline = time.monotonic() + 20
    while True:
        paid = events(platform, Stream.CASES, "support.disbursed")
        found = {e["disbursement_id"]: e for e in paid if e["grant_id"] == grant_id}
        if sum(e["amount"] for e in found.values()) >= total or time.monotonic() > deadline:
            return list(found.values())
        time.sleep(0.1)


def test_a_child_is_referred_to_child_protection_before_the_case_closes(
    platform: Services,
) -> None:
    answer = post(platform, "/v1/reports", report("s-child"), platform.token("reporter"))
    case_id = answer.json()["case_id"]
    wait_for_support(platform, case_id, "being_identified")
    officer = Officer(platform, "support_officer", "11")
    provider = Officer(platform, "provider", "11", agency=CTXH)
    closure = {"reason": "reintegrated", "closed_on": TODAY.isoformat()}
    early = officer.post(f"/v1/cases/{case_id}/closure", closure)
    assert (early.status_code, rules(early)) == (422, ["referral.child_protection"])
    assert officer.get(f"/v1/cases/{case_id}/entitlements").json()["required_referrals"] == [
        "child_protection"
    ]

    referral = officer.post(f"/v1/cases/{case_id}/referrals", {
        "service": "child_protection", "provider": CTXH,
        "referred_at": TODAY.isoformat()})  # fmt: skip
    assert referral.status_code == 201, referral.text
    referral_id = referral.json()["referral_id"]
    event = published(platform, Stream.CASES, "support.referred", "referral_id", referral_id)
    assert (event["child"], event["service"]) == (True, "child_protection")
    step = {"on": TODAY.isoformat(), "note": "Đã tiếp nhận"}
    assert provider.post(f"/v1/referrals/{referral_id}/complete", step).status_code == 409
    assert provider.post(f"/v1/referrals/{referral_id}/accept", step).json()["status"] == "accepted"
    done = provider.post(f"/v1/referrals/{referral_id}/complete", step | {"note": "Hoàn thành"})
    assert (done.json()["status"], done.json()["provider_note"]) == ("done", "Hoàn thành")
    assert published(platform, Stream.CASES, "referral.completed", "referral_id", referral_id)

    visit = {"visited_on": TODAY.isoformat(), "situation": "at_risk", "retrafficking_risk": True}
    assert officer.post(f"/v1/cases/{case_id}/follow-ups", visit).status_code == 201
    assert rules(officer.post(f"/v1/cases/{case_id}/closure", closure)) == ["risk.raised"]
    visit |= {"situation": "stable", "retrafficking_risk": False}
    assert officer.post(f"/v1/cases/{case_id}/follow-ups", visit).status_code == 201
    closed = officer.post(f"/v1/cases/{case_id}/closure", closure)
    assert closed.status_code == 200, closed.text
    assert published(platform, Stream.CASES, "case.closed", "case_id", case_id)["reason"] == (
        "reintegrated"
    )
    assert rules(officer.grant(case_id, kind="clothing", granted_at=TODAY.isoformat())) == [
        "case.closed"
    ]
    reopening = {"reopened_on": TODAY.isoformat(), "reason": "Gia đình đề nghị"}
    reopened = officer.post(f"/v1/cases/{case_id}/reopening", reopening)
    assert reopened.status_code == 200, reopened.text
    assert published(platform, Stream.CASES, "case.reopened", "case_id", case_id)
    file = officer.get(f"/v1/cases/{case_id}/support").json()
    assert (file["closed_on"], len(file["follow_ups"]), file["child"]) == (None, 2, True)


def test_a_person_who_declined_support_is_not_granted_it(platform: Services) -> None:
    body = report("s-declined")
    body["consent"]["services"] = False
    case_id = post(platform, "/v1/reports", body, platform.token("reporter")).json()["case_id"]
    wait_for_support(platform, case_id, "being_identified")
    officer = Officer(platform, "support_officer", "11")
    answer = officer.grant(case_id, kind="medical_care", granted_at=TODAY.isoformat(),
                           amount=100_000, receipt_ref="BV-1")  # fmt: skip
    assert rules(answer) == ["consent.services"]
    outside = Officer(platform, "support_officer", "08")
    assert outside.get(f"/v1/cases/{case_id}/entitlements").status_code == 403
