"""The audit chain is keyed (HMAC under the service's chain key, outside the database):
existing records are re-hashed under it, once, after their plain chain verified.

Revision ID: 0007
"""

from shared.migrations import rekey_audit_chain_v5, unkey_audit_chain_v5

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rekey_audit_chain_v5()


def downgrade() -> None:
    unkey_audit_chain_v5()
