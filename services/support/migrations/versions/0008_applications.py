"""Applications for support, their stages with legal limits and due dates, and the grants that
answer them.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("application_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("beneficiary", sa.String(20), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("regime", sa.String(20), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("received_by", sa.String(200), nullable=False),
        sa.Column("recorded_by", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("current_stage", sa.String(40), nullable=True),
        sa.Column("current_due_on", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("refused_kinds", sa.JSON(), nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.PrimaryKeyConstraint("application_id", name="pk_applications"),
    )
    op.create_index("ix_applications_case_id", "applications", ["case_id"])
    op.create_index("ix_applications_current_due_on", "applications", ["current_due_on"])
    op.create_table(
        "application_stages",
        sa.Column("application_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("agency", sa.String(60), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("day_kind", sa.String(20), nullable=False),
        sa.Column("limit_known", sa.Boolean(), nullable=False),
        sa.Column("escalates_to", sa.String(60), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("done_by", sa.String(40), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("application_id", "position", name="pk_application_stages"),
    )
    op.create_index("ix_application_stages_due_on", "application_stages", ["due_on"])
    op.create_table(
        "application_grants",
        sa.Column("application_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("application_id", "kind", name="pk_application_grants"),
        sa.UniqueConstraint("grant_id", name="uq_application_grants_grant_id"),
    )


def downgrade() -> None:
    op.drop_table("application_grants")
    op.drop_index("ix_application_stages_due_on", "application_stages")
    op.drop_table("application_stages")
    op.drop_index("ix_applications_current_due_on", "applications")
    op.drop_index("ix_applications_case_id", "applications")
    op.drop_table("applications")
