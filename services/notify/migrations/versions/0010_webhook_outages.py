"""Webhooks that outlast an outage: a subscription remembers since when its deliveries fail,
whether and why it was disabled, and whom to tell; deliveries are found by subscription and
time for a replay.

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as table:
        table.add_column(sa.Column("contact_email", sa.String(320), nullable=True))
        table.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("disabled_reason", sa.String(40), nullable=True))
    op.create_index(
        "ix_deliveries_recipient_key_recorded_at", "deliveries", ["recipient_key", "recorded_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_recipient_key_recorded_at", table_name="deliveries")
    with op.batch_alter_table("subscriptions") as table:
        for column in ("disabled_reason", "disabled_at", "failing_since", "contact_email"):
            table.drop_column(column)
