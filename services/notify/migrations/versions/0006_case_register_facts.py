"""The case register keeps each event's own facts (plumbing v4), and case events that arrive
before their case was received wait to be routed: order does not matter.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_plumbing_v4, drop_plumbing_v4

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_v4()
    op.create_table(
        "parked_events",
        sa.Column("event_key", sa.String(300), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("event_key", name="pk_parked_events"),
    )
    op.create_index("ix_parked_events_case_id", "parked_events", ["case_id"])


def downgrade() -> None:
    op.drop_table("parked_events")
    drop_plumbing_v4()
