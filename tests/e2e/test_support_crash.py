"""Support killed mid-run (its outbox relay and its consumer with it): every payment is made once,
the ledger still equals the events, and the case events it missed are caught up. On SQLite and
on PostgreSQL, where concurrent retries of one payment really run at once."""

import asyncio
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from shared.names import Service, Stream
from tests.conftest import DatabaseFactory
from tests.e2e.conftest import Services
from tests.e2e.test_reports import events, post, report
from tests.e2e.test_support import Officer, disbursed, old_regime_case, pay, wait_for_support

PAYMENTS, AMOUNT = 40, 10_000


async def test_the_ledger_reconciles_after_the_relay_and_the_consumer_are_killed(
    services: Services, new_database_url: DatabaseFactory
) -> None:
    services.env["SAFERETURN_SUPPORT_DATABASE_URL"] = await new_database_url()
    await asyncio.to_thread(_crash_mid_run, services)


def _crash_mid_run(services: Services) -> None:
    services.env["SAFERETURN_SUPPORT_APPROVAL_THRESHOLD_VND"] = str(10**9)
    services.start(Service.INTAKE, Service.VERIFICATION, Service.SUPPORT)
    case_id = old_regime_case(services, "crash", identified=True)
    officer, approver = Officer(services, "support_officer"), Officer(services, "approver")
    budget = {"province": "08", "year": 2025, "funding_source": "state_budget", "amount": 10**8}
    assert approver.put("/v1/budgets", budget).status_code == 200
    grant = officer.grant(case_id, kind="shelter_meals", quantity=90, granted_at="2025-04-02")
    grant_id = grant.json()["grant_id"]
    with ThreadPoolExecutor(8) as pool:  # one payment retried at once: made once
        retried = list(pool.map(lambda _: pay(officer, grant_id, AMOUNT, "state_budget", "same"),
                                range(8)))  # fmt: skip
    assert sorted(a.status_code for a in retried) == [200] * 7 + [201], [a.text for a in retried]
    assert len({a.json()["disbursement_id"] for a in retried}) == 1

    answered: list[int] = []
    paying = threading.Thread(target=_pay_all, args=(services, officer, grant_id, answered))
    paying.start()
    while len(answered) < PAYMENTS // 4:
        time.sleep(0.01)
    services.processes[Service.SUPPORT].send_signal(signal.SIGKILL)
    assert len(answered) < PAYMENTS  # killed mid-run
    services.processes[Service.SUPPORT].wait()
    missed = post(services, "/v1/reports", report("crash-missed"), services.token("reporter"))
    services.start(Service.SUPPORT)
    paying.join(120)

    assert sorted(set(answered)) in ([200, 201], [201])
    total = (PAYMENTS + 1) * AMOUNT
    paid = disbursed(services, grant_id, total)
    assert sorted(e["amount"] for e in paid) == [AMOUNT] * (PAYMENTS + 1)
    ledger = approver.get("/v1/ledger", **{"from": "2025-04-01", "to": "2025-04-30"}).json()
    assert ledger["total"] == sum(e["amount"] for e in paid) == total
    budgets = approver.get("/v1/budgets", year=2025).json()["budgets"]
    assert budgets[0]["spent"] == total
    assert len(events(services, Stream.CASES, "support.disbursed")) >= PAYMENTS + 1
    wait_for_support(services, missed.json()["case_id"], "being_identified")


def _pay_all(services: Services, officer: Officer, grant_id: str, answered: list[int]) -> None:
    """Each payment retried with its key until answered, as a client would through a crash."""
    for n in range(PAYMENTS):
        body = {"amount": AMOUNT, "paid_at": "2025-04-10", "method": "bank_transfer",
                "funding_source": "state_budget"}  # fmt: skip
        while True:
            url = f"{officer.url}/v1/grants/{grant_id}/disbursements"
            try:
                key = {"Idempotency-Key": f"crash-{n}"}
                answer = httpx.post(url, json=body, timeout=5, headers=officer.headers | key)
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            if answer.status_code < 500:
                answered.append(answer.status_code)
                break
            time.sleep(0.05)
