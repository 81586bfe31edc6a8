"""The case register keeps each event's own facts (plumbing v4): order does not matter.

Revision ID: 0006
"""

from shared.migrations import create_plumbing_v4, drop_plumbing_v4

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_v4()


def downgrade() -> None:
    drop_plumbing_v4()
