"""Intake's key table also holds the keys agency systems encrypt submissions to (use ``enc``).

Revision ID: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as table:
        table.add_column(sa.Column("use", sa.String(3), nullable=False, server_default="sig"))


def downgrade() -> None:
    op.execute("DELETE FROM signing_keys WHERE \"use\" = 'enc'")
    with op.batch_alter_table("signing_keys") as table:
        table.drop_column("use")
