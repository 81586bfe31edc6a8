"""The facts Law 53/2024 Art. 37 and Decree 09/2013 Art. 23 turn on: the person's nationality
and residence as intake codes it and being abroad (from case.received), and the circumstances
an officer declared with a grant.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_cases") as batch:
        batch.add_column(sa.Column("legal_status", sa.String(20), nullable=True))
        batch.add_column(
            sa.Column("abroad", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("declared", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("declared")
    with op.batch_alter_table("support_cases") as batch:
        batch.drop_column("abroad")
        batch.drop_column("legal_status")
