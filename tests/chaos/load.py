"""A realistic load through the public APIs only: reports over HTTP and the submissions stream
(with deliberate repeats), decisions and amendments, protection orders, grants, approvals,
disbursements with retried Idempotency-Keys, and activities. What was accepted goes to Truth.

A call that surely did nothing is retried; one whose outcome is unknown is reconciled by
reading the platform before it is sent again (grants, decisions) or, where no API can tell
(protection orders, HTTP activities), resolved at the end from the events on the stream."""

import random
import threading
import time
from datetime import date, timedelta
from functools import partial
from typing import Any

import httpx
import redis

from safereturn.submitting import fetch_encryption_key, submission_fields
from shared.names import Service, Stream
from tests.chaos.api import Ambiguous, Api, LoadError, until
from tests.chaos.truth import (
    DONOR,
    SUPPORT_GRANTED,
    SUPPORT_IDENTIFIED,
    YEAR,
    Case,
    Truth,
    directory,
)
from tests.local_platform import Platform
from tests.redis_cluster import replicated_xadd

V, S = Service.VERIFICATION, Service.SUPPORT
WAIT_S = 240.0  # how long a step may wait for the platform to catch up (kills included)


class Load:
    def __init__(self, platform: Platform, truth: Truth, run: str, seed: int) -> None:
        self.platform, self.truth, self.run, self.seed = platform, truth, run, seed
        self.stop = threading.Event()  # set when the run gives up: every waiting call ends
        api = partial(Api, platform.urls, stop=self.stop)
        self.reporters = {p: api("reporter", p) for p in ("11", "08")}
        self.verifiers = {p: api("verifier", p) for p in ("11", "08")}
        self.officer = api("support_officer", "08")
        self.approver = api("approver", "08")
        self.admin = api("admin")
        self.analyst = api("analyst")
        self.integrator = api("integrator", "11")
        self.webhook_secret = ""
        # Submissions are encrypted to intake, as every agency system's must be.
        self.encryption_key = fetch_encryption_key(platform.urls(Service.INTAKE)[0])
        self._local = threading.local()
        self._redis_clients: list[redis.Redis] = []

    def close(self) -> None:
        for api in (*self.reporters.values(), *self.verifiers.values(), self.officer,
                    self.approver, self.admin, self.analyst, self.integrator):  # fmt: skip
            api.close()
        with self.truth.lock:
            for client in self._redis_clients:
                client.close()

    # --- before the chaos starts -------------------------------------------------------------
    def set_up(self) -> None:
        """Notify's directory, an integrator's subscription, support's budgets."""
        for agency in directory():
            answer = self.admin.post(Service.NOTIFY, "/v1/agencies", idempotent=False, json=agency)
            if answer.status_code != 201:
                raise LoadError(f"agency refused: {answer.text[:300]}")
        wanted = {"url": self.platform.webhooks.url("/integrator"), "event_types": ["*"],
                  "province": "11"}  # fmt: skip
        answer = self.integrator.post(Service.NOTIFY, "/v1/subscriptions", idempotent=False,
                                      json=wanted)  # fmt: skip
        if answer.status_code != 201:
            raise LoadError(f"subscription refused: {answer.text[:300]}")
        self.webhook_secret = answer.json()["secret"]
        for source in ("state_budget", DONOR):
            budget = {"province": "08", "year": YEAR, "funding_source": source,
                      "amount": 10**13}  # fmt: skip
            answer = self.approver.put(S, "/v1/budgets", json=budget)
            if answer.status_code != 200:
                raise LoadError(f"budget refused: {answer.text[:300]}")

    # --- reports -----------------------------------------------------------------------------
    def _redis(self) -> redis.Redis:
        client: redis.Redis | None = getattr(self._local, "redis", None)
        if client is None:
            client = self._local.redis = self.platform.redis_client(
                socket_timeout=5, socket_connect_timeout=2
            )
            with self.truth.lock:
                self._redis_clients.append(client)
        return client

    def xadd(self, fields: dict[str, str]) -> None:
        """Publish as an agency system would; resend the same entry until Redis says OK (on
        a cluster: until the primary's replica holds it too)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                if self.platform.cluster:
                    replicated_xadd(self._redis(), Stream.SUBMISSIONS, fields)
                else:
                    self._redis().xadd(Stream.SUBMISSIONS, fields)  # type: ignore[arg-type]
                return
            except redis.RedisError as error:
                if time.monotonic() > deadline or self.stop.is_set():
                    raise LoadError(f"XADD: {error}") from error
                time.sleep(0.2)

    def submission(self, kind: str, entry_id: str, data: dict[str, Any], token: str) -> None:
        fields = submission_fields(kind, data, token, self.encryption_key, event_id=entry_id,
                                   source=f"/agency/chaos-{self.run}")  # fmt: skip
        self.xadd(fields)

    def post_report(self, case: Case) -> httpx.Response:
        reporter = self.reporters[case.province]
        answer = reporter.post(Service.INTAKE, "/v1/reports", idempotent=True, json=case.body)
        if answer.status_code not in (200, 202):
            raise LoadError(f"report {case.source_ref}: {answer.status_code} {answer.text[:300]}")
        return answer

    def report(self, case: Case, rng: random.Random, follow_up: bool) -> None:
        if case.original is not None:
            self._repeat_person(case)
            return
        if case.via == "stream":
            token = self.reporters[case.province].token()
            entry = f"chaos-{self.run}-{case.index}"
            self.submission("report.submitted", entry, case.body, token)
            if rng.random() < 0.1:  # the same entry delivered again
                self.submission("report.submitted", entry, case.body, token)
                self.truth.count_repeat()
            if rng.random() < 0.05:  # the same report sent again as a new entry
                self.submission("report.submitted", f"{entry}-again", case.body, token)
                self.truth.count_repeat()
            if not follow_up:
                return
            self.truth.count_repeat()  # the same report over HTTP: answers with its case
        answer = self.post_report(case)
        case.case_id = answer.json()["case_id"]
        if rng.random() < 0.1:
            again = self.post_report(case)
            self.truth.count_repeat()
            if again.json()["case_id"] != case.case_id:
                raise LoadError(f"{case.source_ref} answered with two case ids")

    def _repeat_person(self, case: Case) -> None:
        original = self.truth.cases[case.original or 0]
        deadline = time.monotonic() + WAIT_S
        while original.case_id is None:  # merged into whichever came first: make it the original
            if time.monotonic() > deadline or self.stop.is_set():
                raise LoadError(f"{original.source_ref} never accepted")
            time.sleep(0.2)
        answer = self.post_report(case).json()
        case.case_id = answer["case_id"]
        if answer["status"] == "merged":
            case.merged_into = answer["links"]["merged_into"].rsplit("/", 1)[-1]

    # --- verification ------------------------------------------------------------------------
    def _verification(self, case: Case) -> dict[str, Any]:
        path = f"/v1/cases/{case.case_id}/verification"
        found: dict[str, Any] = self.verifiers[case.province].get(V, path).json()
        return found.get("decision") or {}

    def decide(self, case: Case, outcome: str, on: date, reason: str | None = None) -> None:
        body: dict[str, Any] = {"outcome": outcome, "decided_at": on.isoformat()}
        if outcome == "victim":
            body["evidence"] = "police_certificate"
        if reason:
            body["amend_reason"] = reason
        amendments = len(case.decisions)
        path = f"/v1/cases/{case.case_id}/decision"
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                answer = self.verifiers[case.province].post(V, path, idempotent=False, json=body)
            except Ambiguous:
                self.truth.count_ambiguous()
                answer = None
            if answer is not None and answer.status_code == 200:
                case.decisions.append((outcome, on))
                return
            if answer is None or answer.status_code == 409:  # did the first one take effect?
                known = self._verification(case)
                if (known.get("outcome"), known.get("decided_on")) == (outcome, on.isoformat()) \
                        and len(known.get("amendments") or []) == amendments:  # fmt: skip
                    case.decisions.append((outcome, on))
                    return
            elif answer.status_code != 404:  # 404: verification has not seen the case yet
                raise LoadError(f"decision {case.case_id}: {answer.status_code} {answer.text}")
            time.sleep(0.3)
        raise LoadError(f"decision {case.case_id}: not accepted in time")

    def protect(self, case: Case, on: date, relatives: int) -> None:
        protected = [{"relation": "victim", "count": 1}]
        if relatives:
            protected.append({"relation": "close_relative", "count": relatives})
        order = {"measures": ["confidentiality"], "protected": protected,
                 "starts_on": on.isoformat()}  # fmt: skip
        path = f"/v1/cases/{case.case_id}/protection"
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                answer = self.verifiers[case.province].post(V, path, idempotent=False, json=order)
            except Ambiguous:  # no API lists orders: the stream will say
                self.truth.count_ambiguous()
                case.ambiguous_protections.append((on, 1 + relatives))
                return
            if answer.status_code == 201:
                case.protections.append((on, 1 + relatives))
                return
            if answer.status_code != 404:
                raise LoadError(f"protection {case.case_id}: {answer.status_code} {answer.text}")
            time.sleep(0.3)
        raise LoadError(f"protection {case.case_id}: not accepted in time")

    # --- support -----------------------------------------------------------------------------
    def _grants(self, case: Case) -> dict[str, dict[str, Any]]:
        listed = self.officer.get(S, "/v1/grants", params={"case_id": case.case_id}).json()
        return {g["kind"]: g for g in listed["grants"]}

    def grant(self, case: Case, kind: str, quantity: int) -> dict[str, Any]:
        body = {"kind": kind, "quantity": quantity, "granted_at": SUPPORT_GRANTED.isoformat()}
        path = f"/v1/cases/{case.case_id}/grants"
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                answer = self.officer.post(S, path, idempotent=False, json=body)
            except Ambiguous:  # look before granting again
                self.truth.count_ambiguous()
                if found := self._grants(case).get(kind):
                    return found
                continue
            if answer.status_code == 201:
                granted: dict[str, Any] = answer.json()
                return granted
            waiting = {"group.being_identified", "case.unknown"}  # support catching up
            rules = {e.get("rule") for e in answer.json().get("errors", [])}
            if answer.status_code != 404 and not rules & waiting:
                raise LoadError(f"grant {case.case_id} {kind}: {answer.status_code} {answer.text}")
            time.sleep(0.3)
        raise LoadError(f"grant {case.case_id} {kind}: not accepted in time")

    def approve(self, case: Case, grant: dict[str, Any]) -> None:
        body = {"decision": "approve", "decided_at": (SUPPORT_GRANTED + timedelta(1)).isoformat()}
        path = f"/v1/grants/{grant['grant_id']}/approval"
        for _ in range(100):
            try:
                answer = self.approver.post(S, path, idempotent=False, json=body)
            except Ambiguous:
                self.truth.count_ambiguous()
                answer = None
            if answer is not None and answer.status_code == 200:
                return
            if answer is None or answer.status_code == 409:
                if self._grants(case)[grant["kind"]]["status"] == "approved":
                    return
                continue
            raise LoadError(f"approval {grant['grant_id']}: {answer.status_code} {answer.text}")
        raise LoadError(f"approval {grant['grant_id']}: not accepted")

    def pay(self, case: Case, grant: dict[str, Any], n: int, amount: int, source: str) -> None:
        paid_on = date.fromisoformat(grant["granted_on"]) + timedelta(1)
        body = {"amount": amount, "paid_at": paid_on.isoformat(), "method": "cash",
                "funding_source": source}  # fmt: skip
        key = {"Idempotency-Key": f"chaos-{self.run}-{case.index}-{n}"}
        path = f"/v1/grants/{grant['grant_id']}/disbursements"
        first = self.officer.post(S, path, idempotent=True, json=body, headers=key)
        if first.status_code not in (200, 201):
            raise LoadError(f"payment {case.case_id}: {first.status_code} {first.text}")
        again = self.officer.post(S, path, idempotent=True, json=body, headers=key)
        self.truth.count_repeat()
        if again.json().get("disbursement_id") != first.json()["disbursement_id"]:
            raise LoadError(f"payment {case.case_id}: a retried key paid again")
        case.payments.append({"kind": grant["kind"], "amount": amount, "funding_source": source,
                              "paid_on": paid_on,
                              "disbursement_id": first.json()["disbursement_id"]})  # fmt: skip

    def support(self, case: Case) -> None:
        """Identified, poor household, shelter and meals (approved at once), the hardship
        allowance (above the threshold: a second officer approves), paid from two sources."""
        self.decide(case, "victim", SUPPORT_IDENTIFIED)
        poor = {"poor_household": True, "household_evidence": f"GCN {case.index}"}
        path = f"/v1/cases/{case.case_id}/circumstances"
        until(lambda: self.officer.put(S, path, json=poor), lambda r: r.status_code == 200,
              f"circumstances {case.case_id}", WAIT_S)  # fmt: skip
        shelter = case.grants["shelter_meals"] = self.grant(case, "shelter_meals", 30)
        hardship = self.grant(case, "hardship_allowance", 1)
        self.approve(case, hardship)
        case.grants["hardship_allowance"] = hardship  # counted once approved
        self.pay(case, shelter, 1, 1_000_000, "state_budget")
        self.pay(case, shelter, 2, int(shelter["amount"]) - 1_000_000, "state_budget")
        self.pay(case, hardship, 3, int(hardship["amount"]), DONOR)

    # --- stories -----------------------------------------------------------------------------
    def story(self, case: Case) -> None:
        rng = random.Random(self.seed * 1_000_003 + case.index)
        supported = case.index % 10 == 3
        decided = supported or rng.random() < 0.6
        self.report(case, rng, follow_up=decided and case.original is None)
        if case.original is not None or not decided:
            return
        if supported:
            self.support(case)
            return
        on = min(case.received_on + timedelta(rng.randrange(1, 20)), date(YEAR, 12, 31))
        outcome = "victim" if rng.random() < 0.7 else "not_victim"
        self.decide(case, outcome, on)
        if rng.random() < 0.1:
            other = "not_victim" if outcome == "victim" else "victim"
            later = min(on + timedelta(rng.randrange(1, 10)), date(YEAR, 12, 31))
            self.decide(case, other, later, reason="Chaos: new evidence")
        if case.identified_on() and rng.random() < 0.3:
            self.protect(case, case.identified_on() or on, rng.randrange(0, 3))

    def activity(self, index: int, activity: dict[str, Any]) -> None:
        rng = random.Random(self.seed * 7_000_001 + index)
        reporter = self.reporters[activity["area"]["province"]]
        if rng.random() < 0.5:
            entry = f"chaos-{self.run}-activity-{index}"
            self.submission("activity.submitted", entry, activity, reporter.token())
            if rng.random() < 0.1:
                self.submission("activity.submitted", entry, activity, reporter.token())
                self.truth.count_repeat()
            with self.truth.lock:
                self.truth.activities.append(activity)
            return
        try:
            answer = reporter.post(Service.INTAKE, "/v1/activities", idempotent=False,
                                   json=activity)  # fmt: skip
        except Ambiguous:  # no key to retry with: the stream will say whether it was taken
            self.truth.count_ambiguous()
            with self.truth.lock:
                self.truth.ambiguous_activities.append(activity)
            return
        if answer.status_code != 202:
            raise LoadError(f"activity refused: {answer.status_code} {answer.text[:300]}")
        with self.truth.lock:
            self.truth.activities.append(activity)
