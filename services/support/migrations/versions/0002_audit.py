"""The hash-chained audit log.

Revision ID: 0002
"""

from shared.migrations import create_plumbing_v2, drop_plumbing_v2

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_v2()


def downgrade() -> None:
    drop_plumbing_v2()
