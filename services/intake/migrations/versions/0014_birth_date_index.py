"""An index on the subject's birth date: the look-alike scan reads only the persons born that day.

Revision ID: 0014
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_persons_birth_date", "persons", ["birth_date"])


def downgrade() -> None:
    op.drop_index("ix_persons_birth_date", table_name="persons")
