"""Duplicate links between cases.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("merged_into", sa.String(40), nullable=True))
    op.create_table(
        "duplicates",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("candidate_case_id", sa.String(40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(40), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], name="fk_duplicates_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["candidate_case_id"], ["cases.case_id"],
            name="fk_duplicates_candidate_case_id_cases",
        ),
        sa.PrimaryKeyConstraint("case_id", "candidate_case_id", name="pk_duplicates"),
    )


def downgrade() -> None:
    op.drop_table("duplicates")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("merged_into")
