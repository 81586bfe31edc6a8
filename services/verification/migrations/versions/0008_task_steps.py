"""A task is a sequence of legal steps (each with its agencies, start, limit and due date), and
a case may have a child-return task besides its verification task.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(20), nullable=False, server_default="verification")
        )
        batch.add_column(sa.Column("route", sa.String(20), nullable=True))
        batch.add_column(sa.Column("step", sa.String(40), nullable=True))
        batch.add_column(sa.Column("steps", sa.JSON(), nullable=True))
        batch.drop_constraint("uq_tasks_case_id", type_="unique")
        batch.create_unique_constraint("uq_tasks_case_id_kind", ["case_id", "kind"])


def downgrade() -> None:
    op.execute("DELETE FROM tasks WHERE kind <> 'verification'")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint("uq_tasks_case_id_kind", type_="unique")
        batch.create_unique_constraint("uq_tasks_case_id", ["case_id"])
        batch.drop_column("steps")
        batch.drop_column("step")
        batch.drop_column("route")
        batch.drop_column("kind")
