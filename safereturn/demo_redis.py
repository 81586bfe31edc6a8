"""The demo's Redis boundary: each party has its own Redis user, and a forged event is refused."""

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import redis
from uuid6 import uuid7

from safereturn.scenario import Say, ScenarioError
from shared.events import REGISTRY
from shared.events.base import business_today
from shared.events.envelope import to_fields
from shared.events.verification import CaseIdentified
from shared.names import REVOKED_CLIENTS, Service, Stream, dead_letter_stream, event_source
from shared.redis_acl import OPERATOR, SUBMITTER
from shared.streams import entries


def attempt(url: str, *command: Any) -> str:
    """What Redis answers ``command`` sent with the credentials in ``url``: ``OK`` or its
    refusal."""
    client = redis.Redis.from_url(url)
    try:
        client.execute_command(*command)  # type: ignore[no-untyped-call]
    except redis.exceptions.NoPermissionError as error:
        return f"refused, NOPERM ({error})"
    finally:
        client.close()
    return "OK"


def forged_identification(case_id: str, source: str) -> dict[str, str]:
    """A ``case.identified`` as a forger writes it: well-formed, but signed by nobody."""
    payload = CaseIdentified(case_id=case_id, decided_on=business_today(), evidence="forged")
    event = REGISTRY.envelope(
        payload, event_id=str(uuid7()), source=source, subject=case_id, time=datetime.now(UTC)
    )
    return to_fields(event)


def flat(fields: Mapping[str, str]) -> list[str]:
    return [part for pair in fields.items() for part in pair]


def step(number: str, urls: Mapping[str, str], case_id: str, say: Say) -> None:
    """The demo's step, where each party has its own Redis user (Redis 7 and later)."""
    if SUBMITTER not in urls:
        return
    say("")
    say(f"{number} Redis is a boundary: each party has its own user, and events are signed")
    show_boundary(urls, case_id, say)


def show_boundary(urls: Mapping[str, str], case_id: str, say: Say, timeout: float = 20.0) -> None:
    """NOPERM for what a party may not do; a forged event in the dead letters, not applied."""
    submitter, support = urls[SUBMITTER], urls[Service.SUPPORT]
    forged = forged_identification(case_id, event_source(Service.VERIFICATION))
    tries = [
        ("an agency system (user submitter) publishes case.identified on the cases stream",
         attempt(submitter, "XADD", Stream.CASES, "*", *flat(forged))),
        ("… reads other agencies' submissions",
         attempt(submitter, "XRANGE", Stream.SUBMISSIONS, "-", "+")),
        ("… deletes the revocation list", attempt(submitter, "DEL", REVOKED_CLIENTS)),
        ("stats (user stats) publishes on the cases stream",
         attempt(urls[Service.STATS], "XADD", Stream.CASES, "*", *flat(forged))),
    ]  # fmt: skip
    for what, answer in tries:
        say(f"  {what}: {answer}")
    client = redis.Redis.from_url(support)
    try:  # support may publish on the cases stream, but not verification's events
        entry_id = client.xadd(Stream.CASES, dict(forged))  # type: ignore[arg-type]
    finally:
        client.close()
    say(f"  support (user support) may publish on the cases stream: it adds a case.identified "
        f"in verification's name ({_text(entry_id)}), unsigned")  # fmt: skip
    refused = _dead_letters(urls[OPERATOR], forged["id"], timeout)
    if not refused:
        raise ScenarioError("the forged event was not dead-lettered")
    for letter in refused:
        say(f"  {letter['dead_letter_group']:<26} dead-lettered it: {letter['dead_letter_reason']}")
    say("  nobody applied it: the case is not identified")


def _dead_letters(operator: str, event_id: str, timeout: float) -> list[dict[str, str]]:
    """The dead letters of ``event_id``, once every group that follows it has refused it
    (their number stops growing for two seconds)."""
    client = redis.Redis.from_url(operator)
    deadline = time.monotonic() + timeout
    found: list[dict[str, str]] = []
    steady_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            letters = entries(client.xrange(dead_letter_stream(Stream.CASES)))
            now = [e.text() for e in letters if e.text().get("id") == event_id]
            if len(now) != len(found):
                found, steady_since = now, time.monotonic()
            elif found and time.monotonic() - steady_since > 2:
                break
            time.sleep(0.3)
    finally:
        client.close()
    return found


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
