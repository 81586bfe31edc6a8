"""The hash-chained audit log.

Revision ID: 0003
"""

from shared.migrations import create_plumbing_v2, drop_plumbing_v2

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_v2()


def downgrade() -> None:
    drop_plumbing_v2()
