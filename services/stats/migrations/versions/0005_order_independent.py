"""Projections independent of the order of arrival (issue 12): reception facts nullable (a
case's row may be created by any of its events), the merge's target kept, identification
decisions kept each under its own id, a grant's own status and a later approval apart.

The new facts are filled in from the archive, so the form is the same before and after the
upgrade; facts the old projections lost to disorder (an identification, merge or overdue
notice before the reception, an approval before its grant) come back with
``safereturn stats rebuild``.

Revision ID: 0005
"""

from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RECEPTION = (("received_on", sa.Date()), ("province", sa.String(2)), ("sex", sa.String(10)),
             ("scope", sa.String(10)), ("reception_form", sa.String(30)),
             ("consent_statistics", sa.Boolean()))  # fmt: skip
DECISIONS = ("case.identified", "case.not_identified", "case.identification_amended")

# Frozen here: a migration never imports the code of the day.
archive = sa.table("archive", sa.column("seq", sa.Integer()), sa.column("event_id", sa.String()),
                   sa.column("type", sa.String()), sa.column("time", sa.DateTime(timezone=True)),
                   sa.column("envelope", sa.JSON()))  # fmt: skip
persons = sa.table("persons", sa.column("case_id", sa.String()),
                   sa.column("merged_into", sa.String()), sa.column("overdue", sa.Boolean()))
supports = sa.table("supports", sa.column("support_id", sa.String()),
                    sa.column("case_id", sa.String()), sa.column("kind", sa.String()),
                    sa.column("effective", sa.Boolean()), sa.column("granted", sa.Boolean()),
                    sa.column("approved", sa.Boolean()))  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        for name, kind in RECEPTION:
            batch.alter_column(name, existing_type=kind, nullable=True)
        batch.alter_column("overdue", existing_type=sa.Boolean(), server_default=sa.false())
        batch.add_column(sa.Column("merged_into", sa.String(40), nullable=True))
    decisions = op.create_table(
        "decisions",
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("victim", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.String(10), nullable=True),
        sa.Column("destination", sa.String(2), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_case_id", "decisions", ["case_id"])
    with op.batch_alter_table("supports") as batch:
        batch.alter_column("on", existing_type=sa.Date(), nullable=True)
        batch.add_column(sa.Column("granted", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("approved", sa.Boolean(), nullable=True))
    _fill(op.get_bind(), decisions)
    with op.batch_alter_table("persons") as batch:
        for name in ("merged", "identified_on", "decided"):
            batch.drop_column(name)
    with op.batch_alter_table("supports") as batch:
        batch.drop_column("effective")


def _fill(connection: sa.Connection, decisions: Any) -> None:
    """The new columns from the archive, as the new projections would have written them."""
    connection.execute(supports.update().values(granted=supports.c.effective))
    wanted = (*DECISIONS, "case.merged", "verification.overdue", "support.approved",
              "support.rejected")  # fmt: skip
    rows = connection.execute(
        sa.select(archive.c.event_id, archive.c.type, archive.c.time, archive.c.envelope)
        .where(archive.c.type.in_(wanted))
        .order_by(archive.c.seq)
    )
    for event_id, kind, time, envelope in rows:
        data = envelope["data"]
        if kind in DECISIONS:
            corrections = data.get("corrections") or {}
            outcome = {"case.identified": "victim", "case.not_identified": "not_victim"}
            revision = data.get("revision")
            connection.execute(decisions.insert().values(
                event_id=event_id, case_id=data["case_id"],
                decided_on=date.fromisoformat(data["decided_on"]),
                revision=revision if isinstance(revision, int) else None, at=time,
                victim=outcome.get(kind, data.get("outcome")) == "victim",
                scope=corrections.get("scope") or None,
                destination=corrections.get("destination_country") or None,
            ))  # fmt: skip
        elif kind == "case.merged":
            _person(connection, data["case_id"], merged_into=data["into"])
        elif kind == "verification.overdue":
            _person(connection, data["case_id"], overdue=True)
        else:
            approved = kind == "support.approved"
            connection.execute(supports.update().where(
                supports.c.support_id == data["grant_id"]).values(approved=approved))


def _person(connection: sa.Connection, case_id: str, **values: Any) -> None:
    found = persons.update().where(persons.c.case_id == case_id).values(**values)
    if not connection.execute(found).rowcount:
        connection.execute(persons.insert().values(case_id=case_id, **values))


def downgrade() -> None:
    with op.batch_alter_table("supports") as batch:
        batch.add_column(sa.Column("effective", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))  # fmt: skip
    connection = op.get_bind()
    effective = sa.func.coalesce(supports.c.approved, supports.c.granted, sa.false())
    connection.execute(supports.update().values(effective=effective))
    with op.batch_alter_table("supports") as batch:
        batch.drop_column("approved")
        batch.drop_column("granted")
        batch.alter_column("effective", existing_type=sa.Boolean(), server_default=None)
    op.drop_index("ix_decisions_case_id", "decisions")
    op.drop_table("decisions")
    # Rows a later event created before its reception cannot be kept by the old schema.
    connection.execute(sa.text("DELETE FROM persons WHERE received_on IS NULL"))
    connection.execute(sa.text('DELETE FROM supports WHERE "on" IS NULL'))
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("merged", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))  # fmt: skip
        batch.add_column(sa.Column("identified_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("decided", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))  # fmt: skip
    connection.execute(sa.text("UPDATE persons SET merged = (merged_into IS NOT NULL)"))
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("merged_into")
        batch.alter_column("overdue", existing_type=sa.Boolean(), server_default=None)
        for name, kind in RECEPTION:
            batch.alter_column(name, existing_type=kind, nullable=False)
    # identified_on and decided come back from the archive: run ``safereturn stats rebuild``.
