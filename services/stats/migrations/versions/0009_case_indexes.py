"""Indexes for what projecting a batch looks up by case: the cases merged into one, a case's
protection orders and its support. Without them every batch read those tables in full, and
stats' consumer slowed as history grew (docs/performance.md).

Revision ID: 0009
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = (("persons", "merged_into"), ("protections", "case_id"), ("supports", "case_id"))


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table, column in INDEXES:
        op.drop_index(f"ix_{table}_{column}", table)
