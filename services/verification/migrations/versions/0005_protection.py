"""Protection orders.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "protection_orders",
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("protected", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("ordered_by", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_protection_orders"),
    )
    op.create_index("ix_protection_orders_case_id", "protection_orders", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_protection_orders_case_id", "protection_orders")
    op.drop_table("protection_orders")
