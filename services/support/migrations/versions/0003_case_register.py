"""The case register kept from intake's case events.

Revision ID: 0003
"""

from shared.migrations import create_plumbing_v3, drop_plumbing_v3

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_v3()


def downgrade() -> None:
    drop_plumbing_v3()
