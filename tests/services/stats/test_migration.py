"""Revision 0005 (issue 12): a stats database projected by the old code is upgraded to the
order-independent projections, its new facts filled in from the archive, so that the form
counts the same before, after, and after a rebuild."""

from datetime import date

import sqlalchemy as sa
from alembic import command

from services.stats import store
from services.stats.app import MIGRATIONS
from services.stats.domain import named_period as period
from shared.db import Database
from shared.migrations import _config, upgrade
from tests.conftest import DatabaseFactory
from tests.services.stats.deliveries import (
    approved,
    archive_row,
    filled,
    forms,
    granted,
    identified,
    merged,
    nonzero,
    overdue,
    rebuild_in_place,
    received,
    sent,
)

FEB = date(2026, 2, 1)
OLD_PERSON = {"received_on": date(2026, 1, 10), "province": "11", "ward": None, "sex": "female",
              "age": 20, "ethnicity": "01", "nationality": "VN", "scope": "abroad",
              "destination": "CN", "reception_form": "rescued", "consent_statistics": True,
              "merged": False, "identified_on": None, "decided": False,
              "overdue": False}  # fmt: skip


async def downgrade(database: Database, revision: str) -> None:
    async with database.engine.connect() as connection:
        await connection.run_sync(
            lambda sync: command.downgrade(_config(MIGRATIONS, sync, None), revision)
        )
        await connection.commit()


def old_table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(column) for column in columns))


async def test_the_upgrade_fills_the_new_facts_from_the_archive(
    new_database_url: DatabaseFactory,
) -> None:
    database = Database(await new_database_url())
    try:
        await upgrade(database, MIGRATIONS, "0004")
        history = [sent(received("case-1")), sent(received("case-2")), sent(received("case-3")),
                   sent(identified("case-1", FEB, destination_country="TH"), revision=1),
                   sent(granted("case-2", "g-1", "education", FEB, "pending_approval")),
                   sent(approved("case-2", "g-1", "education", FEB)),
                   sent(merged("case-2", "case-1")), sent(overdue("case-3"))]  # fmt: skip
        persons = old_table("persons", "case_id", *OLD_PERSON)
        supports = old_table("supports", "support_id", "case_id", "kind", "on", "effective")
        async with database.transaction() as session:
            for event in history:
                assert await store.archived(session, archive_row(event))
            # What the old projections made of it, in order.
            await session.execute(persons.insert(), [
                {"case_id": "case-1", **OLD_PERSON, "identified_on": FEB, "decided": True,
                 "destination": "TH"},
                {"case_id": "case-2", **OLD_PERSON, "merged": True},
                {"case_id": "case-3", **OLD_PERSON, "overdue": True},
            ])  # fmt: skip
            await session.execute(
                supports.insert().values(
                    support_id="g-1", case_id="case-2", kind="education", on=FEB, effective=True
                )
            )
        await upgrade(database, MIGRATIONS)
        assert await filled(database)  # as stats does when it starts on an upgraded database
        (upgraded,) = await forms(database, [period("2026")])
        async with database.reading() as session:
            assert await store.verifications(session, "11") == (1, 1)
        assert nonzero(upgraded) == {
            "I.1": 2, "I.2": 1, "I.2.a.female": 1, "I.2.b.kinh": 1, "I.2.d.abroad": 1,
            "I.2.d.abroad.TH": 1, "I.2.e.rescued": 1, "II.4.1": 1, "II.4.4.education": 1,
        }  # fmt: skip
        await rebuild_in_place(database)
        assert await forms(database, [period("2026")]) == [upgraded]
        await downgrade(database, "0004")  # and back: the archive fills the facts in again
        await upgrade(database, MIGRATIONS)
        assert await filled(database)
        assert not await filled(database)  # once
        assert await forms(database, [period("2026")]) == [upgraded]
    finally:
        await database.dispose()
