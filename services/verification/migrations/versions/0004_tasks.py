"""Verification tasks and decisions.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("agencies", sa.JSON(), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_because", sa.String(20), nullable=True),
        sa.PrimaryKeyConstraint("task_id", name="pk_tasks"),
        sa.UniqueConstraint("case_id", name="uq_tasks_case_id"),
    )
    op.create_index("ix_tasks_due_on", "tasks", ["due_on"])
    op.create_table(
        "decisions",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("evidence", sa.String(40), nullable=True),
        sa.Column("corrections", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(40), nullable=False),
        sa.Column("amendments", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_decisions"),
    )


def downgrade() -> None:
    op.drop_table("decisions")
    op.drop_index("ix_tasks_due_on", "tasks")
    op.drop_table("tasks")
