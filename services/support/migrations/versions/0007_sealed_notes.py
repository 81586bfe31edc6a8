"""Support's free text (grant decision notes, referral reasons and provider notes, follow-up
notes, household evidence) is sealed with support's vault, bound to its row.

Revision ID: 0007
"""

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from services.support.notes import SEALED, context
from shared.migrations import seal_column

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _context_of(table: str, column: str, key: str) -> Callable[[Any], str]:
    return lambda row: context(table, column, row[key])


def upgrade() -> None:
    with op.batch_alter_table("support_cases") as batch:
        batch.alter_column("household_evidence", type_=sa.Text(), existing_nullable=True)
    for table, (key, columns) in SEALED.items():
        for column in columns:
            seal_column(table, key, column, _context_of(table, column, key))


def downgrade() -> None:
    raise NotImplementedError("sealed notes are not written back in clear")
