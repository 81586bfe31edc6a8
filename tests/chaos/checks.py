"""The invariants, each a Check with what it found: accepted reports are one case each and
counted once; the form equals a recount of the accepted inputs; the ledger equals the accepted
payments and the ``support.disbursed`` events; every (event, recipient) pair is delivered
exactly once; nothing pending, dead-lettered or behind; every audit chain verifies."""

import asyncio
import email.policy
import hmac
import json
import random
import tomllib
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from standardwebhooks import Webhook

from safereturn import admin
from services.stats import domain
from shared.names import Service, Stream
from tests.chaos.api import Ambiguous, LoadError
from tests.chaos.load import Load
from tests.chaos.quiesce import Backlog, stream_events
from tests.chaos.truth import YEAR, Case, Truth, expected_mail

ACTIONS = "services/notify/templates/actions.toml"
PERSON_TOTALS = ("I.1", "I.2", "I.3", "II.4.1")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    lost: int = 0
    doubled: int = 0


def _diff(name: str, expected: Counter[Any], got: Counter[Any], limit: int = 6) -> Check:
    """Compare multisets: a shortfall is lost, a surplus doubled."""
    lost = expected - got
    doubled = got - expected
    detail = ""
    if lost:
        detail += f"missing {sum(lost.values())}: {list(lost.items())[:limit]} "
    if doubled:
        detail += f"surplus {sum(doubled.values())}: {list(doubled.items())[:limit]}"
    return Check(name, not lost and not doubled, detail.strip() or "ok",
                 sum(lost.values()), sum(doubled.values()))  # fmt: skip


def intake_cases(load: Load, truth: Truth, workers: int = 16) -> Check:
    """Each accepted report again, over HTTP: intake must answer 200 with its one case (a 202
    would mean the report had been lost), and a repeated person merged."""
    lost: list[str] = []
    wrong: list[str] = []

    def again(case: Case) -> None:
        try:
            answer = load.post_report(case)
        except (Ambiguous, LoadError) as error:
            wrong.append(f"{case.source_ref}: {error}")
            return
        body = answer.json()
        if answer.status_code == 202:
            lost.append(case.source_ref)
        elif case.case_id is not None and body["case_id"] != case.case_id:
            wrong.append(f"{case.source_ref}: two case ids")
        case.case_id = body["case_id"]
        if case.original is not None and case.merged_into is None:
            wrong.append(f"{case.source_ref}: the same ID number was not merged")

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(again, truth.cases))
    detail = f"{len(truth.cases)} reports; lost {lost[:5]} wrong {wrong[:5]}"
    doubled = len([w for w in wrong if "two case ids" in w])
    return Check("every accepted report is exactly one case", not lost and not wrong, detail,
                 lost=len(lost), doubled=doubled)  # fmt: skip


def registers(load: Load, truth: Truth, workers: int = 16, most: int = 2000) -> Check:
    """Every service's case register agrees with what was accepted: merged, the latest
    decision, or being identified (all cases up to ``most``, else a sample of that many)."""
    cases = [c for c in truth.cases if c.case_id]
    if len(cases) > most:
        cases = random.Random(0).sample(cases, most)
    wrong: list[str] = []

    def compare(case: Case) -> None:
        if case.original is not None:
            expected = "merged"
        elif case.decisions:
            expected = "identified" if case.decisions[-1][0] == "victim" else "not_identified"
        else:
            expected = "being_identified"
        for service in (Service.VERIFICATION, Service.SUPPORT, Service.NOTIFY, Service.STATS):
            answer = load.admin.get(service, f"/v1/diagnostics/cases/{case.case_id}")
            status = answer.json().get("status") if answer.status_code == 200 else "unknown"
            if status != expected:
                wrong.append(f"{service} {case.case_id} {status} not {expected}")

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(compare, cases))
    return Check("every service's case register agrees with the accepted decisions",
                 not wrong, f"{len(cases)} cases, {len(wrong)} disagree: {wrong[:6]}",
                 lost=len(wrong))  # a forgotten decision is a lost fact  # fmt: skip


def _facts(truth: Truth, protections: dict[int, int], activities: list[dict[str, Any]],
           province: str | None) -> domain.Facts:  # fmt: skip
    mine = [c for c in truth.cases if province in (None, c.province)]
    persons = []
    for c in mine:
        person, trafficking = c.body["person"], c.body["trafficking"]
        persons.append(domain.Person(
            case_id=str(c.index), received_on=c.received_on, province=c.province, ward=c.ward,
            sex=person["sex"], age=person["age"], ethnicity=person["ethnicity"],
            nationality=person["nationality"], scope=trafficking["scope"],
            destination=trafficking["destination_country"],
            reception_form=c.body["reception_form"],
            consent_statistics=c.body["consent"]["statistics"], merged=c.original is not None,
            identified_on=c.identified_on(),
        ))  # fmt: skip
    orders = [domain.Protection(str(c.index), on, n) for c in mine for on, n in c.protections]
    orders += [domain.Protection(str(c.index), c.ambiguous_protections[0][0], n)
               for c in mine for n in [protections.get(c.index, 0)] if n]  # fmt: skip
    supports = [domain.Support(str(c.index), kind, date.fromisoformat(g["granted_on"]))
                for c in mine for kind, g in c.grants.items()]  # fmt: skip
    payments = [domain.Payment(p["kind"], p["paid_on"], p["amount"], p["funding_source"])
                for c in mine for p in c.payments]  # fmt: skip
    done = [domain.Activity(a["kind"], date.fromisoformat(a["date"]), a["sessions"],
                            a["participants"], 0, a["posters"], a["leaflets"])
            for a in activities if province in (None, a["area"]["province"])]  # fmt: skip
    return domain.Facts(tuple(persons), tuple(done), tuple(orders), tuple(supports),
                        tuple(payments))  # fmt: skip


def resolve_ambiguous(load: Load, truth: Truth) -> tuple[dict[int, int], list[dict[str, Any]]]:
    """Calls whose outcome was unknown, settled by the events on the streams: persons
    protected per case beyond the accepted orders, and the activities that were taken."""
    cases = {c.case_id: c for c in truth.cases if c.ambiguous_protections}
    extra: dict[int, int] = {}
    orders = {e["data"]["order_id"]: e for e in stream_events(load.platform, Stream.CASES)
              if e["type"] == "protection.ordered" and e["subject"] in cases}  # fmt: skip
    for event in orders.values():
        case = cases[event["subject"]]
        persons = sum(int(p["count"]) for p in event["data"]["protected"])
        extra[case.index] = extra.get(case.index, 0) + persons
    for case in cases.values():  # what the accepted orders account for is not extra
        extra[case.index] = max(0, extra.get(case.index, 0) - sum(n for _, n in case.protections))
    taken = {int(e["data"].get("leaflets", 0)) for e in
             stream_events(load.platform, Stream.ACTIVITIES)}  # fmt: skip
    activities = truth.activities + [a for a in truth.ambiguous_activities
                                     if a["leaflets"] in taken]  # fmt: skip
    return extra, activities


def statistics_form(load: Load, truth: Truth) -> tuple[list[Check], int]:
    """The form for the year, nationally and per province, against a recount."""
    protections, activities = resolve_ambiguous(load, truth)
    checks, events = [], 0
    for province in (None, "11", "08"):
        params = {"period": str(YEAR)} | ({"province": province} if province else {})
        report = load.analyst.get(Service.STATS, "/v1/reports/victim-support", params=params)
        body = report.json()
        events = max(events, int(body.get("as_of", {}).get("events", 0)))
        expected = domain.form(domain.named_period(str(YEAR)),
                               _facts(truth, protections, activities, province))  # fmt: skip
        got = body.get("rows", {})
        wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
        counted = PERSON_TOTALS if province is None else ()  # a person once, not per row
        lost = sum(max(0, expected[k] - (got.get(k) or 0)) for k in counted)
        doubled = sum(max(0, (got.get(k) or 0) - expected[k]) for k in counted)
        where = f"province {province}" if province else "national"
        checks.append(Check(f"form {YEAR} {where} equals the recount (got, expected)",
                            not wrong, str(dict(list(wrong.items())[:12])) or "ok",
                            lost, doubled))  # fmt: skip
    return checks, events


def ledger(load: Load, truth: Truth) -> list[Check]:
    payments = [p for c in truth.cases for p in c.payments]
    by_kind: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    for p in payments:
        by_kind[p["kind"]] += p["amount"]
        by_source[p["funding_source"]] += p["amount"]
    params = {"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"}
    got = load.analyst.get(Service.SUPPORT, "/v1/ledger", params=params).json()
    checks = [
        _diff("ledger VND by kind equals the accepted payments", by_kind,
              Counter(got.get("by_kind", {}))),
        _diff("ledger VND by funding source equals the accepted payments", by_source,
              Counter(got.get("by_funding_source", {}))),
    ]  # fmt: skip
    events = [e for e in stream_events(load.platform, Stream.CASES)
              if e["type"] == "support.disbursed"]  # fmt: skip
    once = {e["data"]["disbursement_id"]: e for e in events}
    on_stream: Counter[str] = Counter()
    for e in once.values():
        on_stream[e["data"]["kind"]] += int(e["data"]["amount"])
    checks.append(_diff("support.disbursed events (VND by kind) equal the ledger",
                        Counter(got.get("by_kind", {})), on_stream))  # fmt: skip
    check = _diff("every accepted payment is one support.disbursed event",
                  Counter(p["disbursement_id"] for p in payments),
                  Counter(e["data"]["disbursement_id"] for e in events))  # fmt: skip
    check.detail += f"; {len(payments)} payments, {len(events)} events"
    checks.append(check)
    return checks


def case_events(load: Load, truth: Truth) -> Check:
    """Every kept case is one case.received event, each decision one event (by event id):
    an effect published twice under two ids would be counted twice downstream."""
    events = {e["id"]: e for e in stream_events(load.platform, Stream.CASES)}
    got: Counter[tuple[str, str]] = Counter(
        (str(e["subject"]), str(e["type"])) for e in events.values()
        if e["type"] in {"case.received", "case.identified", "case.not_identified",
                         "case.identification_amended", "protection.ordered"}
    )  # fmt: skip
    expected: Counter[tuple[str, str]] = Counter()
    for case in truth.cases:
        if case.original is not None or not case.case_id:
            continue
        expected[(case.case_id, "case.received")] += 1
        for n, (outcome, _) in enumerate(case.decisions):
            kind = ("case.identified" if outcome == "victim" else "case.not_identified") if n == 0 \
                else "case.identification_amended"  # fmt: skip
            expected[(case.case_id, kind)] += 1
        expected[(case.case_id, "protection.ordered")] += len(case.protections)
    ambiguous = {c.case_id for c in truth.cases if c.ambiguous_protections}
    got = Counter({k: v for k, v in got.items()
                   if not (k[1] == "protection.ordered" and k[0] in ambiguous)})  # fmt: skip
    expected = Counter({k: v for k, v in expected.items()
                        if not (k[1] == "protection.ordered" and k[0] in ambiguous)})  # fmt: skip
    check = _diff("every accepted fact is one event on the case stream", expected, got)
    partitions: dict[str, set[str]] = {}
    for event in events.values():
        partitions.setdefault(str(event["subject"]), set()).add(event["stream"])
    split = sorted(case for case, streams in partitions.items() if len(streams) > 1)
    check.ok = check.ok and not split  # a case's events on one partition: in order
    check.detail += f"; {len({e['stream'] for e in events.values()})} partitions" + (
        f", cases split across them: {split[:3]}" if split else "")  # fmt: skip
    return check


def activities(load: Load, truth: Truth) -> Check:
    """Every accepted activity is one activity.reported event (found by its leaflet count)."""
    _, accepted = resolve_ambiguous(load, truth)
    events = stream_events(load.platform, Stream.ACTIVITIES)
    check = _diff("every accepted activity is one activity.reported event",
                  Counter(a["leaflets"] for a in accepted),
                  Counter(int(e["data"].get("leaflets", 0)) for e in events))  # fmt: skip
    check.detail += f"; {len(accepted)} accepted, {len(events)} events"
    return check


def mail(load: Load, truth: Truth) -> Check:
    """Each (event, mailbox) pair once, in effect: identical messages are the same pair sent
    again. Notify delivers at least once — a process killed between sending and recording
    sends again once its claim runs out — with the same Message-ID on every attempt, so the
    receiver drops the copy: such repeats are counted and shown, not failed. A second
    Message-ID for the same message is a second delivery, and fails."""
    with open(ACTIONS, "rb") as actions:
        titles = {v["vi"]["title"]: k for k, v in tomllib.load(actions).items()}
    ids: dict[tuple[str, str, str], set[str]] = {}
    for raw in list(load.platform.smtp.raw):
        message = email.message_from_bytes(raw, policy=email.policy.default)
        part = message.get_body(("plain",))
        body = str(part.get_content()) if part else ""
        key = (str(message["To"]), str(message["Subject"]), body)
        ids.setdefault(key, set()).add(str(message["Message-ID"]))
    copies = Counter({key: len(found) for key, found in ids.items()})
    pairs: Counter[tuple[str, str, str]] = Counter()
    for to, subject, body in copies:
        case_id = next((line.split(":", 1)[1].strip() for line in body.splitlines()
                        if line.startswith("Hồ sơ:")), "-")  # fmt: skip
        title = subject.removeprefix("[SafeReturn] ").split(" — ")[0]
        pairs[(case_id, titles.get(title, title), to)] += 1
    expected: Counter[tuple[str, str, str]] = Counter()
    for case in truth.cases:
        if case.original is None and case.case_id:
            expected.update((case.case_id, kind, box) for kind, box in expected_mail(case))
    types = {t for _, t, _ in expected}
    check = _diff("every (event, mailbox) pair delivered exactly once", expected,
                  Counter({k: v for k, v in pairs.items() if k[1] in types}))  # fmt: skip
    again = sum(n - 1 for n in copies.values() if n > 1)
    check.doubled += again
    check.ok = check.ok and not again
    resent = [(to, subject[:60]) for (to, subject, _), n in copies.items() if n > 1]
    repeats = len(load.platform.smtp.raw) - sum(copies.values())
    check.detail += (f"; {len(load.platform.smtp.raw)} mails, {repeats} repeated under their "
                     f"Message-ID, {again} delivered again under another {resent[:3]}")  # fmt: skip
    return check


def webhooks(load: Load, truth: Truth) -> Check:
    """The integrator's endpoint (province 11): every event once in effect, each signature
    verified. As with mail, a repeat under the same ``webhook-id`` is the receiver's to drop
    (counted, not failed); the same event under a second ``webhook-id`` fails."""
    ids: dict[str, set[str]] = {}
    got: Counter[tuple[str, str]] = Counter()
    bad = received_count = 0
    for received in list(load.platform.webhooks.at("/integrator")):
        if not signed(load.webhook_secret, received.headers, received.body):
            bad += 1
            continue
        received_count += 1
        event = json.loads(received.body)
        if event["id"] not in ids:
            got[(event["subject"], event["type"])] += 1
        headers = {k.lower(): v for k, v in received.headers.items()}
        ids.setdefault(event["id"], set()).add(headers["webhook-id"])
    expected: Counter[tuple[str, str]] = Counter()
    for case in _in_province(truth.cases, "11"):
        case_id = str(case.case_id)
        expected[(case_id, "case.received")] += 1
        for n, (outcome, _) in enumerate(case.decisions):
            kind = ("case.identified" if outcome == "victim" else "case.not_identified") if n == 0 \
                else "case.identification_amended"  # fmt: skip
            expected[(case_id, kind)] += 1
        expected[(case_id, "protection.ordered")] += len(case.protections)
    types = {t for _, t in expected}
    check = _diff("every event delivered once to the integrator's webhook", expected,
                  Counter({k: v for k, v in got.items() if k[1] in types}))  # fmt: skip
    again = sum(len(found) - 1 for found in ids.values())
    repeats = received_count - len(ids) - again
    check.doubled += again
    check.ok = check.ok and not again and not bad
    check.detail += (f"; {received_count} received, {repeats} repeated under their webhook-id, "
                     f"{again} delivered again under another, {bad} bad signatures")  # fmt: skip
    return check


def signed(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """A Standard Webhooks signature check without its five-minute window: the check runs
    after the load, long after the receiver got the request."""
    found = {k.lower(): v for k, v in headers.items()}
    try:
        at = datetime.fromtimestamp(int(found["webhook-timestamp"]), UTC)
        expected = Webhook(secret).sign(found["webhook-id"], at, body.decode())
    except (KeyError, ValueError):
        return False
    given = found.get("webhook-signature", "").split(" ")
    return any(hmac.compare_digest(expected, signature) for signature in given)


def _in_province(cases: Iterable[Case], province: str) -> list[Case]:
    return [c for c in cases if c.province == province and c.original is None and c.case_id]


def streams(state: Backlog, waited: float) -> Check:
    busy = state.busy()
    return Check("nothing pending, no dead letters, every group at lag 0, outboxes empty",
                 not busy, f"{busy or 'quiet'} after {waited:.0f} s")  # fmt: skip


def audit() -> Check:
    said: list[str] = []
    ok = asyncio.run(admin.verify_audit(said.append, list(Service)))
    return Check("every audit chain verifies", ok, "; ".join(said)[:500])
