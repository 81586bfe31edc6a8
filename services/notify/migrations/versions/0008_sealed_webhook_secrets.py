"""Webhook signing secrets (agencies' and subscriptions') are sealed with notify's vault,
bound to their agency or subscription; their columns widen to hold the sealed form.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

from shared.migrations import seal_column

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agencies") as batch:
        batch.alter_column("webhook_secret", type_=sa.Text(), existing_nullable=True)
    with op.batch_alter_table("subscriptions") as batch:
        batch.alter_column("secret", type_=sa.Text(), existing_nullable=False)
    seal_column("agencies", "agency_id", "webhook_secret",
                lambda row: f"agency-webhook-secret:{row['agency_id']}")  # fmt: skip
    seal_column("subscriptions", "subscription_id", "secret",
                lambda row: f"subscription-secret:{row['subscription_id']}")  # fmt: skip


def downgrade() -> None:
    raise NotImplementedError("sealed secrets are not written back in clear")
