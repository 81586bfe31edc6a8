"""The shared case register (plumbing v3), kept by every service that consumes cases.

Revision ID: 0007
"""

from shared.migrations import create_plumbing_v3, drop_plumbing_v3

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_v3()


def downgrade() -> None:
    drop_plumbing_v3()
