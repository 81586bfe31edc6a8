"""Signed events: a consumer applies only what the producer allowed for the type signed; a
forged event goes to the dead letters at once, with its reason, and has no effect."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from shared.db import Database
from shared.events import REGISTRY
from shared.events.base import business_today
from shared.events.envelope import to_fields
from shared.events.verification import CaseIdentified
from shared.names import Service, Stream, dead_letter_stream, event_source
from shared.signing import (
    SIGNATURE_FIELD,
    EventSigner,
    EventVerifier,
    ForgedEvent,
    ensure_key,
    public_key_text,
)
from shared.streams import read_range
from tests.conftest import PlatformFactory
from tests.shared.test_consumer import ticked_fields
from tests.support import Behaviour, effect_counts, eventually, now

SIGNERS = {service: EventSigner(Ed25519PrivateKey.generate()) for service in Service}
VERIFIER = EventVerifier({service: [signer.public_key] for service, signer in SIGNERS.items()})


def identified(source: str = event_source(Service.VERIFICATION)) -> dict[str, str]:
    payload = CaseIdentified(case_id="case-1", decided_on=business_today(), evidence="x")
    event = REGISTRY.envelope(
        payload, event_id="evt-1", source=source, subject="case-1", time=now()
    )
    return to_fields(event)


def check(fields: dict[str, str]) -> None:
    VERIFIER.check(fields, fields["type"], fields["source"])


def test_an_event_signed_by_its_producer_verifies() -> None:
    check(SIGNERS[Service.VERIFICATION].sign(identified()))


def test_an_unsigned_event_is_refused() -> None:
    with pytest.raises(ForgedEvent, match="not signed"):
        check(identified())


def test_a_service_cannot_publish_another_services_event_type() -> None:
    # support signs, in its own name, an event only verification produces
    with pytest.raises(ForgedEvent, match=r"may not publish case\.identified"):
        check(SIGNERS[Service.SUPPORT].sign(identified(event_source(Service.SUPPORT))))
    # … or in verification's name, with its own key
    with pytest.raises(ForgedEvent, match="key verification does not have"):
        check(SIGNERS[Service.SUPPORT].sign(identified()))


def test_only_support_may_publish_a_disbursement() -> None:
    by_verification = {"type": "support.disbursed", "source": event_source(Service.VERIFICATION),
                       "data": "{}"}  # fmt: skip
    with pytest.raises(ForgedEvent, match=r"may not publish support\.disbursed"):
        check(SIGNERS[Service.VERIFICATION].sign(by_verification))
    check(SIGNERS[Service.SUPPORT].sign(by_verification | {"source": "/safereturn/support"}))


@given(
    field=st.sampled_from(sorted(identified())),
    change=st.text(min_size=1, max_size=20),
)
def test_any_change_to_a_signed_entry_is_refused(field: str, change: str) -> None:
    signed = SIGNERS[Service.VERIFICATION].sign(identified())
    tampered = dict(signed, **{field: signed[field] + change})
    with pytest.raises(ForgedEvent):
        check(tampered)


@given(extra=st.text(min_size=1, max_size=12).filter(lambda name: name != SIGNATURE_FIELD))
def test_a_field_added_to_a_signed_entry_is_refused(extra: str) -> None:
    signed = SIGNERS[Service.VERIFICATION].sign(identified())
    with pytest.raises(ForgedEvent):
        check(signed | {extra: "1"} if extra not in signed else signed | {extra: "changed!"})


def test_a_key_file_is_made_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "intake.events.pem"
    public = ensure_key(path)
    assert ensure_key(path) == public
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert public_key_text(EventSigner.from_file(path)._key.public_key()) == public


async def test_a_forged_event_is_dead_lettered_at_once_with_its_reason_and_not_applied(
    redis: Redis, database: Database, start_platform: PlatformFactory, tmp_path: Path
) -> None:
    producer = EventSigner(Ed25519PrivateKey.generate())
    intruder = EventSigner(Ed25519PrivateKey.generate())
    key_file = tmp_path / "tests.events.pem"
    ensure_key(key_file)
    keys = {"producer": [producer.public_key], "tests": [ensure_key(key_file)]}
    await start_platform(
        Behaviour(), event_public_keys=keys, event_signing_key_file=key_file, max_deliveries=5
    )
    await redis.xadd(Stream.CASES, producer.sign(ticked_fields(1)))  # type: ignore[arg-type]
    await redis.xadd(Stream.CASES, ticked_fields(2))  # type: ignore[arg-type]
    await redis.xadd(Stream.CASES, intruder.sign(ticked_fields(3)))  # type: ignore[arg-type]
    tampered = producer.sign(ticked_fields(4)) | {"data": json.dumps({"n": 40})}
    await redis.xadd(Stream.CASES, tampered)  # type: ignore[arg-type]
    dlq = dead_letter_stream(Stream.CASES)

    async def settled() -> bool:
        return len(await read_range(redis, dlq)) == 3 and 1 in await effect_counts(
            database.sessions
        )

    assert await eventually(settled)
    assert await effect_counts(database.sessions) == {1: 1}
    letters = [entry.text() for entry in await read_range(redis, dlq)]
    assert [letter["dead_letter_reason"] for letter in letters] == [
        "ForgedEvent: test.ticked from /safereturn/producer is not signed",
        "ForgedEvent: test.ticked from /safereturn/producer is signed by a key producer does "
        "not have",
        "ForgedEvent: test.ticked from /safereturn/producer: the signature does not verify",
    ]
    assert {letter["dead_letter_deliveries"] for letter in letters} == {"1"}  # not retried
