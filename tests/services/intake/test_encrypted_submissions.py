"""Submissions are encrypted to intake (JWE to the ``use: enc`` key of its JWKS): their
personal data is unreadable in Redis, intake alone opens them, and whatever cannot or may not
be opened is refused with a reason, none of the person in the refusal."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwe
from joserfc.jwk import ECKey
from redis.asyncio import Redis
from sqlalchemy import select

from safereturn.submitting import encrypt, encryption_key, submission_fields
from services.intake.identity import admin, domain
from shared.db import outbox
from shared.names import Stream
from shared.streams import Entry
from tests.e2e.test_reports import report
from tests.services.intake.test_submissions_once import (
    ACTIVITY,
    Intake,
    entry,
    examples_on,
    running_intake,
)

BODY = report("sealed-1")
PERSON = (BODY["person"]["full_name"], BODY["person"]["id_number"], BODY["person"]["phone"])


async def _added(redis: Redis, fields: dict[str, str]) -> Entry:
    """XADD as an agency system does, and the entry as Redis holds it."""
    entry_id = await redis.xadd(Stream.SUBMISSIONS, fields)  # type: ignore[arg-type]
    ((_, raw),) = await redis.xrange(Stream.SUBMISSIONS, entry_id, entry_id)
    return Entry(entry_id.decode(), raw)


@asynccontextmanager
async def _reporting_to(
    redis_url: str, database_url: str, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[Intake, str]]:
    """Intake running, and a reporter's token for it."""
    async with running_intake(redis_url, database_url, tmp_path, **overrides) as intake:
        yield intake, await intake.token(await intake.reporter())


def _raw(of: Entry) -> bytes:
    return b" ".join([*(of.fields or {}).keys(), *(of.fields or {}).values()])


async def _outcome(intake: Intake, submission: Entry) -> list[str]:
    await intake.consumer.process([submission])
    return (await intake.rejections()).get((submission.fields or {})[b"id"].decode(), [])


async def _rejected_entries(intake: Intake) -> bytes:
    """Every rejection intake queued, as the bytes it will put on the rejected stream."""
    async with intake.platform.database.reading() as session:
        rows = await session.execute(
            select(outbox.c.fields).where(outbox.c.event_type == "submission.rejected")
        )
        return json.dumps([fields for (fields,) in rows], ensure_ascii=False).encode()


def _assert_no_person(raw: bytes) -> None:
    for value in PERSON:
        assert value.encode() not in raw
        assert json.dumps(value).encode() not in raw  # nor escaped


async def test_an_encrypted_submission_is_unreadable_in_redis_and_intake_admits_it(
    redis: Redis, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with _reporting_to(redis_url, database_url, tmp_path) as (intake, token):
        key = await _key(intake)
        added = await _added(redis, submission_fields(
            "report.submitted", BODY, token, key, event_id="sealed-1", source="/agency/a",
        ))  # fmt: skip
        _assert_no_person(_raw(added))
        assert await _outcome(intake, added) == []
        assert (await intake.counts())["cases"] == 1


async def _key(intake: Intake) -> ECKey:
    async with intake.platform.database.reading() as session:
        jwks: dict[str, Any] = await admin.published_jwks(session, timedelta(minutes=10))
    enc = [k for k in jwks["keys"] if k["use"] == "enc"]
    assert len(enc) == 1
    assert enc[0]["alg"] == domain.ENCRYPTION_ALGORITHM
    assert "d" not in enc[0]  # the public half only
    return encryption_key(jwks)


def _tampered(compact: str) -> str:
    parts = compact.split(".")
    ciphertext = parts[3]
    parts[3] = ("A" if ciphertext[0] != "A" else "B") + ciphertext[1:]
    return ".".join(parts)


async def test_what_intake_cannot_or_may_not_open_is_rejected_with_its_reason_and_no_person(
    redis: Redis, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with _reporting_to(redis_url, database_url, tmp_path) as (intake, token):
        key = await _key(intake)
        stranger = ECKey.generate_key("P-256", auto_kid=True)
        impostor = ECKey.generate_key("P-256", parameters={"kid": key.kid}, auto_kid=False)
        bodies = {
            "tampered": _tampered(encrypt(BODY, key)),
            "wrong-key": encrypt(BODY, impostor),  # intake's key id, someone else's key
            "unknown-kid": encrypt(BODY, stranger),
            "plaintext": json.dumps(BODY, ensure_ascii=False),
            "no-kid": jwe.encrypt_compact(
                {"alg": "ECDH-ES+A256KW", "enc": "A256GCM"}, json.dumps(BODY).encode(), key
            ),
            "other-algorithm": jwe.encrypt_compact(
                {"alg": "ECDH-ES+A128KW", "enc": "A128GCM", "kid": key.kid},
                json.dumps(BODY).encode(), key,
            ),
        }  # fmt: skip
        expected = {
            "tampered": ["undecryptable"], "wrong-key": ["undecryptable"],
            "unknown-kid": ["unknown_key"], "plaintext": ["not_encrypted"],
            "no-kid": ["unknown_key"], "other-algorithm": ["undecryptable"],
        }  # fmt: skip
        outcomes = {}
        for name, data in bodies.items():
            fields = submission_fields("report.submitted", {}, token, key, event_id=name,
                                       source="/agency/a") | {"data": data}  # fmt: skip
            outcomes[name] = await _outcome(intake, await _added(redis, fields))
        assert outcomes == expected
        assert (await intake.counts())["cases"] == 0
        _assert_no_person(await _rejected_entries(intake))


async def test_a_plaintext_submission_is_refused_and_nothing_of_it_admitted(
    redis: Redis, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with _reporting_to(redis_url, database_url, tmp_path) as (intake, token):
        fields = {"specversion": "1.0", "id": "plain-1", "source": "/agency/a",
                  "type": "report.submitted", "time": "2026-12-01T00:00:00Z",
                  "datacontenttype": "application/json", "authorization": f"Bearer {token}",
                  "data": json.dumps(BODY, ensure_ascii=False)}  # fmt: skip
        assert await _outcome(intake, await _added(redis, fields)) == ["not_encrypted"]
        assert (await intake.counts())["cases"] == 0
        _assert_no_person(await _rejected_entries(intake))


async def test_plaintext_is_accepted_only_when_the_migration_setting_says_so(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with _reporting_to(
        redis_url, database_url, tmp_path, submission_accept_plaintext=True
    ) as (intake, token):
        plain = entry("activity.submitted", ACTIVITY, token)
        fields = dict(plain.fields or {})
        fields[b"data"] = json.dumps(ACTIVITY).encode()
        assert await _outcome(intake, Entry(plain.id, fields)) == []
        assert await _outcome(intake, entry("activity.submitted", ACTIVITY | {"sessions": 3},
                                            token)) == []  # fmt: skip


async def test_a_retired_key_opens_submissions_for_the_maximum_age_and_no_longer(
    redis: Redis, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with _reporting_to(redis_url, database_url, tmp_path) as (intake, token):
        old = await _key(intake)
        async with intake.platform.database.transaction() as session:
            await admin.rotate_keys(session, domain.ENC)
        new = await _key(intake)
        assert new.kid != old.kid
        for n, key in enumerate((old, new)):
            body = ACTIVITY | {"sessions": n + 1}
            fields = submission_fields("activity.submitted", body, token, key,
                                       event_id=f"rot-{n}", source="/agency/a")  # fmt: skip
            assert await _outcome(intake, await _added(redis, fields)) == []
    async with running_intake(redis_url, database_url, tmp_path, submission_max_age_s=1) as intake:
        await asyncio.sleep(1.1)
        fields = submission_fields("activity.submitted", ACTIVITY, token, old,
                                   event_id="rot-late", source="/agency/a")  # fmt: skip
        assert await _outcome(intake, await _added(redis, fields)) == ["unknown_key"]


def _flipped(compact: str, segment: int, bit: int) -> str:
    """``compact`` with one bit of one of its five parts flipped, as bytes (not as text)."""
    parts = compact.split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[segment] + "=" * (-len(parts[segment]) % 4)))
    raw[(bit // 8) % len(raw)] ^= 1 << (bit % 8)
    parts[segment] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ".".join(parts)


def test_any_bit_flipped_anywhere_in_the_jwe_is_refused_never_admitted(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    with (
        asyncio.Runner() as runner,
        examples_on(runner, redis_url, database_url, tmp_path) as intake,
    ):
        token = runner.run(intake.token(runner.run(intake.reporter())))
        key = runner.run(_key(intake))
        sealed = encrypt(ACTIVITY, key)

        @settings(max_examples=25, deadline=None)
        @given(segment=st.sampled_from([0, 1, 2, 3, 4]), bit=st.integers(0, 10_000))
        def each(segment: int, bit: int) -> None:
            damaged = entry("activity.submitted", ACTIVITY, token)
            fields = dict(damaged.fields or {})
            fields[b"data"] = _flipped(sealed, segment, bit).encode()
            reasons = runner.run(_outcome(intake, Entry(damaged.id, fields)))
            assert reasons in (["undecryptable"], ["unknown_key"], ["not_encrypted"])

        each()
        assert runner.run(intake.counts())["activities"] == 0
