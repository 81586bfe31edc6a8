"""The chaos harness's own parts, without processes: its plans are what the checks assume, and
its comparisons can fail (a check that cannot fail proves nothing)."""

import base64
import json
from collections import Counter
from datetime import UTC, date, datetime
from email.mime.text import MIMEText
from types import SimpleNamespace
from typing import Any

from standardwebhooks import Webhook

from safereturn.sinks import Received
from services.stats import domain
from tests.chaos import checks
from tests.chaos.checks import _diff, _facts
from tests.chaos.truth import Case, Truth, expected_mail, plan_cases


def test_a_comparison_tells_lost_from_doubled() -> None:
    check = _diff("pairs", Counter({"a": 1, "b": 1}), Counter({"a": 2, "c": 1}))
    assert (check.ok, check.lost, check.doubled) == (False, 1, 2)
    assert _diff("same", Counter({"a": 1}), Counter({"a": 1})).ok


def test_plans_are_reproducible_and_repeat_only_persons_reported_over_http() -> None:
    cases = plan_cases(500, seed=3, run="t")
    assert [c.body for c in cases] == [c.body for c in plan_cases(500, seed=3, run="t")]
    assert len({c.source_ref for c in cases}) == 500
    repeats = [c for c in cases if c.original is not None]
    assert repeats, "a few persons are reported twice"
    for repeat in repeats:
        first = cases[repeat.original or 0]
        assert (first.via, first.original, repeat.via) == ("http", None, "http")
        assert repeat.body["person"]["id_number"] == first.body["person"]["id_number"]
    numbers = Counter(c.body["person"]["id_number"] for c in cases if c.original is None)
    assert max(numbers.values()) == 1, "otherwise intake would merge persons the plan keeps"


def test_the_recount_follows_the_latest_decision_and_skips_merged_reports() -> None:
    first, again = plan_cases(2, seed=1, run="t")
    first.decisions = [("victim", date(2025, 6, 1)), ("not_victim", date(2025, 6, 5))]
    again.original = 0
    rows = domain.form(domain.named_period("2025"), _facts(Truth([first, again]), {}, [], None))
    assert (rows["I.1"], rows["I.2"]) == (1, 0)
    first.decisions.append(("victim", date(2025, 7, 1)))
    rows = domain.form(domain.named_period("2025"), _facts(Truth([first, again]), {}, [], None))
    assert (rows["I.1"], rows["I.2"]) == (1, 1)


def test_expected_mail_follows_the_routes_for_a_handover_of_a_child() -> None:
    body = plan_cases(1, seed=1, run="t")[0].body
    body = body | {"reception_form": "bilateral_handover", "person": body["person"] | {"age": 15}}
    case = Case(0, body, "http", decisions=[("victim", date(2025, 6, 1))])
    kinds = Counter(kind for kind, _ in expected_mail(case))
    assert kinds == {"case.received": 6, "case.identified": 3}


def _mail(message_id: str) -> bytes:
    mail = MIMEText("Hồ sơ: 01a23b10-0000\n", "plain", "utf-8")
    mail["To"], mail["Subject"] = "police.01@example.gov.vn", "[SafeReturn] Tiếp nhận — hồ sơ"
    mail["Message-ID"] = f"<{message_id}@safereturn.invalid>"
    return mail.as_bytes()


def _webhook(secret: str, webhook_id: str, event_id: str) -> Received:
    body = json.dumps({"id": event_id, "subject": "c-1", "type": "case.received"})
    at = datetime.now(UTC)
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": Webhook(secret).sign(webhook_id, at, body)}  # fmt: skip
    return Received("/integrator", headers, body.encode())


def _load(mails: list[bytes], hooks: list[Received], secret: str) -> Any:
    smtp, sink = SimpleNamespace(raw=mails), SimpleNamespace(at=lambda _: hooks)
    return SimpleNamespace(platform=SimpleNamespace(smtp=smtp, webhooks=sink),
                           webhook_secret=secret)  # fmt: skip


def test_a_repeat_under_the_same_id_is_counted_and_a_second_id_is_a_double() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    truth = Truth([])
    again = _load([_mail("d-1"), _mail("d-1")], [_webhook(secret, "d-2", "e-1")] * 2, secret)
    assert (checks.mail(again, truth).ok, checks.webhooks(again, truth).ok) == (True, True)
    assert "1 repeated under their Message-ID" in checks.mail(again, truth).detail
    twice = _load(
        [_mail("d-1"), _mail("d-9")],
        [_webhook(secret, "d-2", "e-1"), _webhook(secret, "d-8", "e-1")],
        secret,
    )
    for check in (checks.mail(twice, truth), checks.webhooks(twice, truth)):
        assert (check.ok, check.doubled) == (False, 1)
