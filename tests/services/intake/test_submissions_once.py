"""The submissions stream through intake's real consumer (real Redis, SQLite and PostgreSQL):
each submission has one effect however often it is delivered or sent, and its token is judged
as when its entry was added, within a bounded age."""

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey
from sqlalchemy import func, select, update

from safereturn.submitting import encrypt
from services.intake.app import create_app
from services.intake.identity import admin
from services.intake.identity import domain as identity
from services.intake.identity.domain import Client
from services.intake.identity.store import signing_keys
from services.intake.reports.store import activities, cases, submission_entries
from services.intake.settings import IntakeSettings
from shared.consumer import StreamConsumer
from shared.db import outbox
from shared.events.envelope import from_fields
from shared.migrations import upgrade
from shared.names import Stream
from shared.runtime import Platform
from shared.streams import Entry
from shared.tokens import ALGORITHM
from tests.e2e.test_reports import RECEIVED, report

ACTIVITY = {
    "kind": "communication_session", "date": RECEIVED.isoformat(),
    "area": {"province": "11", "ward": "03325"}, "sessions": 2, "participants": 140,
}  # fmt: skip
EFFECTS = ("activity.reported", "case.received", "submission.rejected")
numbers = itertools.count(1)


@dataclass
class Intake:
    platform: Platform
    consumer: StreamConsumer
    _reporter: Client | None = None

    async def reporter(self) -> Client:
        """One reporting client for all examples (its secret's hash is slow by design)."""
        if self._reporter is None:
            self._reporter = await self.client()
        return self._reporter

    async def client(self, role: str = "reporter") -> Client:
        async with self.platform.database.transaction() as session:
            credentials = await admin.create_client(session, f"Agency {next(numbers)}", role,
                                                    None, None)  # fmt: skip
        return credentials.client

    async def token(
        self,
        client: Client,
        issued: datetime | None = None,
        lifetime: timedelta = timedelta(minutes=10),
    ) -> str:
        async with self.platform.database.transaction() as session:
            key = await admin.current_signing_key(session)
        claims = identity.token_claims(client, issued or datetime.now(UTC), lifetime)
        return jwt.encode(claims, key.private_pem, algorithm=ALGORITHM, headers={"kid": key.kid})

    async def counts(self) -> Counter[str]:
        """Effects so far: events queued by type, and rows."""
        async with self.platform.database.reading() as session:
            by_type = await session.execute(
                select(outbox.c.event_type, func.count()).group_by(outbox.c.event_type)
            )
            found: Counter[str] = Counter({str(kind): int(n) for kind, n in by_type})
            for table in (activities, cases, submission_entries):
                found[table.name] = await session.scalar(select(func.count()).select_from(table))
        return found

    async def emitted(self, event_type: str) -> list[dict[str, Any]]:
        """The data of every event of this type queued so far."""
        async with self.platform.database.reading() as session:
            rows = await session.execute(
                select(outbox.c.fields).where(outbox.c.event_type == event_type)
            )
            return [json.loads(str(from_fields(fields).get_data())) for (fields,) in rows]

    async def rejections(self) -> dict[str, list[str]]:
        """Reason codes of every rejection, by submission id."""
        found: dict[str, list[str]] = {}
        for data in await self.emitted("submission.rejected"):
            found.setdefault(data["submission_id"], []).extend(r["code"] for r in data["reasons"])
        return found


@asynccontextmanager
async def running_intake(
    redis_url: str, database_url: str, data_dir: Path, **overrides: Any
) -> AsyncIterator[Intake]:
    """Intake's platform without its HTTP server: its submissions consumer, driven by hand."""
    settings_ = IntakeSettings.model_validate(
        {"redis_url": redis_url, "database_url": database_url, "data_dir": data_dir} | overrides
    )
    app = create_app(settings_)
    platform: Platform = app.state.platform
    try:
        await upgrade(platform.database, app.state.platform.spec.migrations)
        async with platform.database.transaction() as session:  # as intake's housekeeping
            sealing = await admin.current_encryption_key(session)
        ENCRYPTION_KEY[0] = ECKey.import_key(sealing.public_jwk)
        consumer = next(c for c in platform.consumers if c.stream == Stream.SUBMISSIONS)
        await consumer.provision()
        yield Intake(platform, consumer)
    finally:
        await platform.redis.aclose()
        await platform.database.dispose()
        platform.telemetry.shutdown()


ENCRYPTION_KEY: list[ECKey] = [ECKey.generate_key("P-256")]
"""The key intake publishes for submissions (the intake last started here)."""


def entry(
    event_type: str, data: object, token: str | None, *, event_id: str | None = None,
    added: datetime | None = None,
) -> Entry:  # fmt: skip
    """A stream entry as an agency's system adds it, at ``added`` (its id's milliseconds)."""
    fields = {
        "specversion": "1.0",
        "id": event_id or f"sub-{next(numbers)}",
        "source": "/agency/system",
        "type": event_type,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/jose",
        "data": encrypt(data, ENCRYPTION_KEY[0]),  # as agency systems must
    }
    if token:
        fields["authorization"] = f"Bearer {token}"
    milliseconds = int((added or datetime.now(UTC)).timestamp() * 1000)
    return Entry(f"{milliseconds}-{next(numbers)}", {k.encode(): v.encode() for k, v in
                                                     fields.items()})  # fmt: skip


def resent(original: Entry, data: object | None = None) -> Entry:
    """The same submission sent again by the agency (a new entry), its content changed or not."""
    fields = dict(original.fields or {})
    if data is not None:
        fields[b"data"] = encrypt(data, ENCRYPTION_KEY[0]).encode()
    return Entry(f"{original.id.partition('-')[0]}-{next(numbers)}", fields)


def event_id(of: Entry) -> str:
    return (of.fields or {})[b"id"].decode()


KINDS = ("activity", "report", "not_json", "anonymous", "unknown_type")
submissions = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 2), st.booleans()),  # resends, id reused
    min_size=1,
    max_size=6,
)


def test_any_redeliveries_and_resends_of_any_submissions_have_one_effect_each(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    with (
        asyncio.Runner() as runner,
        examples_on(runner, redis_url, database_url, tmp_path) as intake,
    ):

        @settings(max_examples=30, deadline=None)
        @given(plan=submissions, data=st.data())
        def each(plan: list[tuple[str, int, bool]], data: st.DataObject) -> None:
            runner.run(_redeliver_and_resend(intake, plan, data))

        each()


@contextmanager
def examples_on(
    runner: asyncio.Runner, redis_url: str, database_url: str, data_dir: Path, **overrides: Any
) -> Iterator[Intake]:
    """One intake for all of a property's examples (each scoped by its own ids and agency)."""
    started = running_intake(redis_url, database_url, data_dir, **overrides)
    intake = runner.run(started.__aenter__())
    try:
        yield intake
    finally:
        runner.run(started.__aexit__(None, None, None))


def _submission(kind: str, n: int, token: str) -> Entry:
    if kind == "activity":
        return entry("activity.submitted", ACTIVITY | {"sessions": n}, token)
    if kind == "not_json":
        return entry("activity.submitted", "{oops", token)
    event_type = "report.amended" if kind == "unknown_type" else "report.submitted"
    return entry(event_type, report(f"prop-{n}"), None if kind == "anonymous" else token)


async def _redeliver_and_resend(
    intake: Intake, plan: list[tuple[str, int, bool]], data: st.DataObject
) -> None:
    token = await intake.token(await intake.reporter())
    entries: list[Entry] = []
    expected: Counter[str] = Counter()
    contested: list[tuple[list[Entry], Entry]] = []  # one id, two contents: the first wins
    for kind, resends, reused in plan:
        n = next(numbers)
        original = _submission(kind, n, token)
        sent = [original, *(resent(original) for _ in range(resends))]
        entries += sent
        valid = kind in ("activity", "report")
        if valid:
            expected["activity.reported" if kind == "activity" else "case.received"] += 1
            expected["activities" if kind == "activity" else "cases"] += 1
        else:  # a refusal spends nothing: each sending of it is refused once
            expected["submission.rejected"] += len(sent)
        if reused:
            other = ACTIVITY | {"sessions": 0} if kind == "activity" else report(f"prop-{n}-b")
            entries.append(resent(original, other))
            if valid:
                contested.append((sent, entries[-1]))
            else:
                expected["submission.rejected"] += 1
    expected["submission_entries"] = len(entries)
    times = data.draw(st.lists(st.integers(1, 4), min_size=len(entries), max_size=len(entries)))
    deliveries = [e for e, k in zip(entries, times, strict=True) for _ in range(k)]
    deliveries = data.draw(st.permutations(deliveries))  # a crash before XACK, a reclaim
    sizes = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=5))
    first_seen = {e.id: i for i, e in reversed(list(enumerate(deliveries)))}
    for sent, other in contested:  # the content read first is admitted, the other refused
        other_first = first_seen[other.id] < min(first_seen[e.id] for e in sent)
        expected["submission.rejected"] += len(sent) if other_first else 1
    before = await intake.counts()
    start, turn = 0, 0
    while start < len(deliveries):
        size = sizes[turn % len(sizes)]
        await intake.consumer.process(deliveries[start : start + size])
        start, turn = start + size, turn + 1
    after = await intake.counts()
    effects = {name: after[name] - before[name] for name in [*EFFECTS, *expected]}
    assert effects == {name: expected[name] for name in effects}


async def test_a_batch_applied_again_after_commit_has_no_second_effect(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    """The crash between commit and XACK: the real consumer applies the same batch again."""
    async with running_intake(redis_url, database_url, tmp_path) as intake:
        token = await intake.token(await intake.client())
        batch = [
            entry("activity.submitted", ACTIVITY, token),
            entry("report.submitted", report("again-1"), token),
            entry("activity.submitted", "{oops", token),
        ]
        for _ in range(3):
            await intake.consumer.process(batch)
        counts = await intake.counts()
        assert [counts[name] for name in (*EFFECTS, "activities", "cases")] == [1, 1, 1, 1, 1]


async def _outcome(intake: Intake, submission: Entry) -> list[str]:
    """The reason codes a submission was refused with; [] when it was admitted."""
    before = await intake.counts()
    await intake.consumer.process([submission])
    after = await intake.counts()
    assert after["submission_entries"] == before["submission_entries"] + 1
    return (await intake.rejections()).get(event_id(submission), [])


MAX_AGE = timedelta(hours=24)
minutes = st.integers(0, 30 * 60)


def test_a_token_is_judged_as_when_its_entry_was_added_within_the_max_age(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    """``waited``: minutes between the token's issue and the entry's adding (a backlog at the
    agency), then ``issued_ago - waited`` minutes on the stream before intake reads it."""
    with (
        asyncio.Runner() as runner,
        examples_on(runner, redis_url, database_url, tmp_path) as intake,
    ):

        @settings(max_examples=40, deadline=None)
        @given(issued_ago=minutes, lifetime=st.integers(1, 120), waited=minutes)
        def each(issued_ago: int, lifetime: int, waited: int) -> None:
            waited = min(waited, issued_ago)
            now = datetime.now(UTC)
            issued = now - timedelta(minutes=issued_ago)
            added = issued + timedelta(minutes=waited)
            if now - added >= MAX_AGE:  # read a moment after now: older than the max age
                expected = ["too_old"]
            elif waited >= lifetime:
                expected = ["unauthenticated"]
            else:
                expected = []
            assert (
                runner.run(_judged(intake, issued, timedelta(minutes=lifetime), added)) == expected
            )

        each()


async def _judged(
    intake: Intake, issued: datetime, lifetime: timedelta, added: datetime
) -> list[str]:
    token = await intake.token(await intake.reporter(), issued, lifetime)
    submission = entry(
        "activity.submitted", ACTIVITY | {"panels": next(numbers)}, token, added=added
    )
    return await _outcome(intake, submission)


async def test_a_backlog_older_than_the_token_is_admitted_and_a_revoked_client_refused(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_intake(
        redis_url, database_url, tmp_path, submission_max_age_s=3600, revocation_refresh_s=0
    ) as intake:
        hour = timedelta(hours=1)
        client = await intake.client()
        long_ago = datetime.now(UTC) - 3 * hour
        stale = await intake.token(client, long_ago, timedelta(minutes=10))
        kept = entry("report.submitted", report("backlog-1"), stale,
                     added=long_ago + timedelta(minutes=5))  # fmt: skip
        assert await _outcome(intake, kept) == ["too_old"]  # older than the max age set
        recent = datetime.now(UTC) - hour / 2
        fresh_then = await intake.token(client, recent, timedelta(minutes=10))
        queued = entry("report.submitted", report("backlog-2"), fresh_then,
                       added=recent + timedelta(minutes=5))  # fmt: skip
        assert await _outcome(intake, queued) == []  # its token expired 20 minutes ago

        revoked = await intake.client()
        token = await intake.token(revoked)
        waiting = entry("activity.submitted", ACTIVITY, token)
        async with intake.platform.database.transaction() as session:
            await admin.revoke_client(session, intake.platform.redis, revoked.client_id)
        assert await _outcome(intake, waiting) == ["unauthenticated"]


async def test_a_backlog_signed_with_a_key_retired_since_is_admitted_within_the_max_age(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_intake(
        redis_url, database_url, tmp_path, submission_max_age_s=3600
    ) as intake:
        client = await intake.client()
        added = datetime.now(UTC) - timedelta(minutes=40)
        token = await intake.token(client, added - timedelta(minutes=1), timedelta(minutes=10))
        queued = entry("report.submitted", report("rotated-1"), token, added=added)
        async with intake.platform.database.transaction() as session:
            await admin.rotate_keys(session)
            # the rotation happened 30 minutes ago: longer than tokens live, within the max age
            await session.execute(
                update(signing_keys).where(signing_keys.c.retired_at.is_not(None))
                .values(retired_at=datetime.now(UTC) - timedelta(minutes=30))
            )  # fmt: skip
        assert await _outcome(intake, queued) == []


async def test_a_spent_submission_id_with_other_content_is_refused(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_intake(redis_url, database_url, tmp_path) as intake:
        token = await intake.token(await intake.client())
        first = entry("activity.submitted", ACTIVITY, token)
        assert await _outcome(intake, first) == []
        respelled = json.dumps(dict(reversed(ACTIVITY.items())), indent=2)  # same content
        assert await _outcome(intake, resent(first, json.loads(respelled))) == []
        assert await _outcome(intake, resent(first, ACTIVITY | {"sessions": 9})) == ["id_reused"]
        counts = await intake.counts()
        assert (counts["activity.reported"], counts["activities"]) == (1, 1)


async def test_two_replicas_applying_the_same_entries_at_once_have_one_effect_each(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    """A reclaim by another replica while the first still applies: on PostgreSQL both really
    run at once; the later commit fails on the entry's key and finds it settled on retry."""
    async with (
        running_intake(redis_url, database_url, tmp_path, consumer_name="intake@a") as first,
        running_intake(redis_url, database_url, tmp_path, consumer_name="intake@b") as second,
    ):
        token = await first.token(await first.reporter())
        batches = [
            [entry("activity.submitted", ACTIVITY | {"leaflets": n}, token),
             entry("report.submitted", report(f"race-{n}"), token),
             entry("activity.submitted", "{oops", token)]
            for n in range(4)
        ]  # fmt: skip
        for batch in batches:
            await asyncio.gather(first.consumer.process(batch), second.consumer.process(batch))
        for batch in batches:  # what the reclaimer delivers again after a failed attempt
            await second.consumer.process(batch)
        counts = await first.counts()
        assert [counts[name] for name in (*EFFECTS, "activities", "cases")] == [4, 4, 4, 4, 4]
