"""A report is compared with every open case of the same birth date and province, however many
there are: records of unknown birthdays all carry 01/01, so one date can be shared by many.

Before, the scan compared only the 50 oldest such cases, and a report of the 51st person was
never flagged."""

import random
import string
from pathlib import Path

from sqlalchemy import select

from services.intake.reports.store import cases
from shared.streams import Entry
from tests.e2e.test_reports import report
from tests.services.intake.test_submissions_once import Intake, entry, running_intake

SHARING = 60  # open cases born on one day in one province, before the look-alike


def _name(rng: random.Random) -> str:
    """A name unlike any other drawn (two random words)."""
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=9)).title() for _ in range(2))


def _submitted(source_ref: str, name: str, token: str) -> Entry:
    body = report(source_ref)
    return entry("report.submitted", body | {"person": body["person"] | {"full_name": name}}, token)


async def _suspected(intake: Intake) -> dict[str, set[str]]:
    """Candidates flagged, by case."""
    found: dict[str, set[str]] = {}
    for data in await intake.emitted("case.duplicate_suspected"):
        found.setdefault(data["case_id"], set()).add(data["candidate_case_id"])
    return found


async def test_a_look_alike_of_the_newest_of_many_sharing_a_birth_date_is_flagged(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(12)
    async with running_intake(redis_url, database_url, tmp_path) as intake:
        token = await intake.token(await intake.reporter())
        names = [_name(rng) for _ in range(SHARING)]
        for number, name in enumerate(names):  # one at a time: each is older than the next
            await intake.consumer.process([_submitted(f"alike-{number}", name, token)])
        again = names[-1].upper() + " "
        await intake.consumer.process([_submitted("alike-again", again, token)])

        async with intake.platform.database.reading() as session:
            refs = await session.execute(select(cases.c.source_ref, cases.c.case_id))
            by_ref = dict(refs.all())
        assert len(by_ref) == SHARING + 1
        flagged = await _suspected(intake)
        assert flagged.get(by_ref["alike-again"]) == {by_ref[f"alike-{SHARING - 1}"]}
