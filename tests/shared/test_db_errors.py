"""A failing statement's error names the statement, never the values bound to it: the text
goes to logs and dead letters, and the values may be personal data."""

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from shared.consumer import describe
from shared.db import Database
from tests.support import effects

MARKER = "NGUYEN-VAN-A-079201001234"


async def test_a_failing_statement_does_not_carry_its_parameters(database: Database) -> None:
    with pytest.raises(IntegrityError) as caught:
        async with database.transaction() as session:
            # n is NOT NULL: the insert fails with the marker among its parameters
            await session.execute(insert(effects).values(event_id=MARKER, n=None))
    text = describe(caught.value)
    assert "effects" in text  # the statement is still named, for the operator
    assert MARKER not in text
    assert MARKER not in repr(caught.value)
