"""Integrators who read their own stream: who they are, the area and event types they get.

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
        "integrators",
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("province", sa.String(2), nullable=True),
        sa.Column("event_types", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_integrators"),
    )


def downgrade() -> None:
    op.drop_table("integrators")
