"""The case register keeps each event's own facts (plumbing v4): order does not matter.

Revision ID: 0010
"""

from shared.migrations import create_plumbing_v4, drop_plumbing_v4

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_v4()


def downgrade() -> None:
    drop_plumbing_v4()
