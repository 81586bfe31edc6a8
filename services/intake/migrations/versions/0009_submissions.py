"""Stream submissions settled once: each entry's outcome, and each admitted submission id.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submission_entries",
        sa.Column("entry_id", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", name="pk_submission_entries"),
    )
    op.create_table(
        "submission_ids",
        sa.Column("agency", sa.String(200), nullable=False),
        sa.Column("submission_key", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("entry_id", sa.String(40), nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agency", "submission_key", name="pk_submission_ids"),
    )


def downgrade() -> None:
    op.drop_table("submission_ids")
    op.drop_table("submission_entries")
