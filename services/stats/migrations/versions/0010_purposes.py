"""The purposes of exploitation a case was reported with, for the HTCDS export's
vic_TypeOfExploitation (docs/htcds-export.md); filled in from the archive's case.received events,
so the export is the same before and after a rebuild.

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Frozen here: a migration never imports the code of the day.
archive = sa.table("archive", sa.column("seq", sa.Integer()), sa.column("type", sa.String()),
                   sa.column("envelope", sa.JSON()))  # fmt: skip
persons = sa.table("persons", sa.column("case_id", sa.String()), sa.column("purposes", sa.JSON()))


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("purposes", sa.JSON(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(archive.c.envelope)
        .where(archive.c.type == "case.received")
        .order_by(archive.c.seq)
    )
    for (envelope,) in rows:
        data = envelope["data"]
        connection.execute(
            persons.update()
            .where(persons.c.case_id == data["case_id"])
            .values(purposes=list(data.get("purposes") or []))
        )


def downgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("purposes")
