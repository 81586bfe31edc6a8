"""Support's case facts, grants, disbursements, budgets, referrals and follow-up visits.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_cases",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("accompanying_minors", sa.Integer(), nullable=False),
        sa.Column("legacy_province", sa.String(2), nullable=True),
        sa.Column("identified_on", sa.Date(), nullable=True),
        sa.Column("poor_household", sa.Boolean(), nullable=True),
        sa.Column("household_evidence", sa.String(100), nullable=True),
        sa.Column("refused_kinds", sa.JSON(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("closure_reason", sa.String(30), nullable=True),
        sa.Column("retrafficking_risk", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_support_cases"),
    )
    op.create_table(
        "grants",
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("beneficiary", sa.String(20), nullable=False),
        sa.Column("group", sa.String(30), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("rate", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("disbursed", sa.BigInteger(), nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
        sa.Column("regime", sa.String(20), nullable=False),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("receipt_ref", sa.String(100), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("granted_by", sa.String(40), nullable=False),
        sa.Column("decided_by", sa.String(40), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.PrimaryKeyConstraint("grant_id", name="pk_grants"),
        sa.CheckConstraint("disbursed >= 0 AND disbursed <= amount", name="ck_grants_paid"),
    )
    op.create_index("ix_grants_case_id", "grants", ["case_id"])
    op.create_table(
        "disbursements",
        sa.Column("disbursement_id", sa.String(40), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("funding_source", sa.String(100), nullable=False),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("client_id", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("disbursement_id", name="pk_disbursements"),
        sa.UniqueConstraint(
            "client_id", "idempotency_key", name="uq_disbursements_client_id"
        ),
        sa.CheckConstraint("amount > 0", name="ck_disbursements_positive"),
    )
    op.create_index("ix_disbursements_grant_id", "disbursements", ["grant_id"])
    op.create_index("ix_disbursements_paid_on", "disbursements", ["paid_on"])
    op.create_table(
        "budgets",
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("funding_source", sa.String(100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("province", "year", "funding_source", name="pk_budgets"),
        sa.CheckConstraint("spent >= 0 AND spent <= amount", name="ck_budgets_spent"),
    )
    op.create_table(
        "referrals",
        sa.Column("referral_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("service", sa.String(40), nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("referred_on", sa.Date(), nullable=False),
        sa.Column("updated_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("provider_note", sa.Text(), nullable=True),
        sa.Column("referred_by", sa.String(40), nullable=False),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.PrimaryKeyConstraint("referral_id", name="pk_referrals"),
    )
    op.create_index("ix_referrals_case_id", "referrals", ["case_id"])
    op.create_table(
        "follow_ups",
        sa.Column("visit_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("visited_on", sa.Date(), nullable=False),
        sa.Column("situation", sa.String(30), nullable=False),
        sa.Column("retrafficking_risk", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("visit_id", name="pk_follow_ups"),
    )
    op.create_index("ix_follow_ups_case_id", "follow_ups", ["case_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_follow_ups_case_id", "follow_ups"),
        ("ix_referrals_case_id", "referrals"),
        ("ix_disbursements_paid_on", "disbursements"),
        ("ix_disbursements_grant_id", "disbursements"),
        ("ix_grants_case_id", "grants"),
    ):
        op.drop_index(index, table)
    for table in ("follow_ups", "referrals", "budgets", "disbursements", "grants", "support_cases"):
        op.drop_table(table)
