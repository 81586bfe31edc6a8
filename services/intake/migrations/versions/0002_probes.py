"""Probes requested through intake and the answers received.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probes",
        sa.Column("probe_id", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("probe_id", name="pk_probes"),
    )
    op.create_table(
        "probe_answers",
        sa.Column("probe_id", sa.String(64), nullable=False),
        sa.Column("service", sa.String(40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["probe_id"], ["probes.probe_id"], name="fk_probe_answers_probe_id_probes"
        ),
        sa.PrimaryKeyConstraint("probe_id", "service", name="pk_probe_answers"),
    )


def downgrade() -> None:
    op.drop_table("probe_answers")
    op.drop_table("probes")
