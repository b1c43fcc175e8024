"""The job database as the first releases wrote it (app/jobs/store.py before the registry).

A database those releases wrote has these tables already, without an alembic_version: this revision
then only adds the two columns the earliest of them lacked, as they did themselves.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "jobs" not in present:
        op.create_table(
            "jobs",
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("request", sa.Text, nullable=False),
            sa.Column("model_id", sa.Text, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("started_at", sa.Text),
            sa.Column("finished_at", sa.Text),
            sa.Column("test_accuracy", sa.Float),
            sa.Column("activated", sa.Boolean, nullable=False, server_default=sa.false()),
            sa.Column("error", sa.Text),
            sa.Column("claimed", sa.Boolean, nullable=False, server_default=sa.false()),
            sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        )
    else:
        columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("jobs")}
        with op.batch_alter_table("jobs") as batch:
            for name in ("claimed", "cancel_requested"):
                if name not in columns:
                    batch.add_column(sa.Column(name, sa.Boolean, nullable=False, server_default=sa.false()))
    if "epochs" not in present:
        op.create_table(
            "epochs",
            sa.Column("job_id", sa.Text, sa.ForeignKey("jobs.id"), primary_key=True),
            sa.Column("epoch", sa.Integer, primary_key=True),
            sa.Column("metrics", sa.Text, nullable=False),
        )
    if "activations" not in present:
        op.create_table(
            "activations",
            sa.Column("version", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("model_id", sa.Text),
            sa.Column("path", sa.Text),
            sa.Column("recorded_at", sa.Text, nullable=False),
        )
    if "members" not in present:
        op.create_table(
            "members",
            sa.Column("member", sa.Text, primary_key=True),
            sa.Column("pid", sa.Integer, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
        )


def downgrade() -> None:
    for table in ("members", "activations", "epochs", "jobs"):
        op.drop_table(table)
