"""The agency directory, integrators' subscriptions, the delivery log, children's cases.

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
        "agencies",
        sa.Column("agency_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("province", sa.String(2), nullable=True),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("webhooks", sa.JSON(), nullable=False),
        sa.Column("webhook_secret", sa.String(100), nullable=True),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", name="pk_agencies"),
    )
    op.create_index("ix_agencies_kind", "agencies", ["kind"])
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("province", sa.String(2), nullable=True),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", name="pk_subscriptions"),
    )
    op.create_index("ix_subscriptions_client_id", "subscriptions", ["client_id"])
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(40), nullable=False),
        sa.Column("event_key", sa.String(300), nullable=False),
        sa.Column("recipient_key", sa.String(300), nullable=False),
        sa.Column("event_type", sa.String(60), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("province", sa.String(2), nullable=True),
        sa.Column("recipient", sa.String(30), nullable=False),
        sa.Column("recipient_name", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("provider_message_id", sa.String(200), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_deliveries"),
        sa.UniqueConstraint("event_key", "recipient_key", name="uq_deliveries_event_key"),
    )
    op.create_index("ix_deliveries_case_id", "deliveries", ["case_id"])
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.create_index("ix_deliveries_next_attempt_at", "deliveries", ["next_attempt_at"])
    op.create_table(
        "children",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("child", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_children"),
    )


def downgrade() -> None:
    op.drop_table("children")
    for index in ("ix_deliveries_next_attempt_at", "ix_deliveries_status", "ix_deliveries_case_id"):
        op.drop_index(index, "deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_subscriptions_client_id", "subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("ix_agencies_kind", "agencies")
    op.drop_table("agencies")
