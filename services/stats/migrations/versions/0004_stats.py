"""The event archive and the form's projections.

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
        "archive",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_key", sa.String(300), nullable=False),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(100), nullable=False),
        sa.Column("type", sa.String(60), nullable=False),
        sa.Column("subject", sa.String(100), nullable=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_archive"),
        sa.UniqueConstraint("event_key", name="uq_archive_event_key"),
    )
    op.create_index("ix_archive_event_id", "archive", ["event_id"])
    op.create_table(
        "persons",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.Column("sex", sa.String(10), nullable=False),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("ethnicity", sa.String(2), nullable=True),
        sa.Column("nationality", sa.String(2), nullable=True),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("destination", sa.String(2), nullable=True),
        sa.Column("reception_form", sa.String(30), nullable=False),
        sa.Column("consent_statistics", sa.Boolean(), nullable=False),
        sa.Column("merged", sa.Boolean(), nullable=False),
        sa.Column("identified_on", sa.Date(), nullable=True),
        sa.Column("decided", sa.Boolean(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_persons"),
    )
    op.create_index("ix_persons_received_on", "persons", ["received_on"])
    op.create_index("ix_persons_province", "persons", ["province"])
    op.create_table(
        "activities",
        sa.Column("activity_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("panels", sa.Integer(), nullable=False),
        sa.Column("posters", sa.Integer(), nullable=False),
        sa.Column("leaflets", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("activity_id", name="pk_activities"),
    )
    op.create_index("ix_activities_held_on", "activities", ["held_on"])
    op.create_index("ix_activities_province", "activities", ["province"])
    op.create_table(
        "protections",
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_protections"),
    )
    op.create_table(
        "supports",
        sa.Column("support_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("effective", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("support_id", name="pk_supports"),
    )
    op.create_table(
        "payments",
        sa.Column("disbursement_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("funding_source", sa.String(100), nullable=False),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.PrimaryKeyConstraint("disbursement_id", name="pk_payments"),
    )


def downgrade() -> None:
    for table in ("payments", "supports", "protections"):
        op.drop_table(table)
    op.drop_index("ix_activities_province", "activities")
    op.drop_index("ix_activities_held_on", "activities")
    op.drop_table("activities")
    op.drop_index("ix_persons_province", "persons")
    op.drop_index("ix_persons_received_on", "persons")
    op.drop_table("persons")
    op.drop_index("ix_archive_event_id", "archive")
    op.drop_table("archive")
