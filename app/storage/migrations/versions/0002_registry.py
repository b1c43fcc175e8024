"""The model registry, weights in the database (PostgreSQL), trainer heartbeats, replicas' last sight.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("trainer", sa.Text))
        batch.add_column(sa.Column("heartbeat_at", sa.Text))
        batch.add_column(sa.Column("activation_note", sa.Text))
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("host", sa.Text))
        batch.add_column(sa.Column("seen_at", sa.Text))
    op.create_table(
        "models",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("architecture", sa.Text, nullable=False),
        sa.Column("test_accuracy", sa.Float),
        sa.Column("created", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_ref", sa.Text),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("location", sa.Text),
        sa.Column("registered_at", sa.Text, nullable=False),
        sa.Column("ever_live", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "model_blobs",
        sa.Column("model_id", sa.Text, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("weights", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "service_meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("jobs_by_status", "jobs", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("jobs_by_status", "jobs")
    for table in ("service_meta", "model_blobs", "models"):
        op.drop_table(table)
    with op.batch_alter_table("members") as batch:
        batch.drop_column("seen_at")
        batch.drop_column("host")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("activation_note")
        batch.drop_column("heartbeat_at")
        batch.drop_column("trainer")
