"""Cases, persons (personal data sealed) and activities.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("agency", sa.String(200), nullable=False),
        sa.Column("source_ref", sa.String(100), nullable=False),
        sa.Column("submitted_by", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("reception_form", sa.String(40), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.Column("trafficking_scope", sa.String(20), nullable=False),
        sa.Column("destination_country", sa.String(2), nullable=True),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("consent_services", sa.Boolean(), nullable=False),
        sa.Column("consent_information_sharing", sa.Boolean(), nullable=False),
        sa.Column("consent_statistics", sa.Boolean(), nullable=False),
        sa.Column("consent_recorded_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_cases"),
        sa.UniqueConstraint("agency", "source_ref", name="uq_cases_agency_source_ref"),
    )
    op.create_table(
        "persons",
        sa.Column("person_id", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("sex", sa.String(10), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("ethnicity", sa.String(2), nullable=True),
        sa.Column("nationality", sa.String(2), nullable=True),
        sa.Column("id_index", sa.String(64), nullable=True),
        sa.Column("sealed", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case_id"], name="fk_persons_case_id_cases"),
        sa.PrimaryKeyConstraint("person_id", name="pk_persons"),
    )
    op.create_index("ix_persons_case_id", "persons", ["case_id"])
    op.create_index("ix_persons_id_index", "persons", ["id_index"])
    op.create_table(
        "activities",
        sa.Column("activity_id", sa.String(40), nullable=False),
        sa.Column("agency", sa.String(200), nullable=False),
        sa.Column("submitted_by", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("province", sa.String(2), nullable=False),
        sa.Column("ward", sa.String(5), nullable=True),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("panels", sa.Integer(), nullable=False),
        sa.Column("posters", sa.Integer(), nullable=False),
        sa.Column("leaflets", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("activity_id", name="pk_activities"),
    )


def downgrade() -> None:
    op.drop_table("activities")
    op.drop_index("ix_persons_id_index", "persons")
    op.drop_index("ix_persons_case_id", "persons")
    op.drop_table("persons")
    op.drop_table("cases")
