"""The tables, as SQLAlchemy Core objects; app/storage/migrations creates and alters them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Times are ISO 8601 text in UTC, as the first release wrote them: they sort as text on both backends.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("request", sa.Text, nullable=False),  # TrainRequest as JSON
    sa.Column("model_id", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("started_at", sa.Text),
    sa.Column("finished_at", sa.Text),
    sa.Column("test_accuracy", sa.Float),
    sa.Column("activated", sa.Boolean, nullable=False, default=False),
    sa.Column("error", sa.Text),
    sa.Column("claimed", sa.Boolean, nullable=False, default=False),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("trainer", sa.Text),  # the member id of the process running it
    sa.Column("heartbeat_at", sa.Text),  # renewed by that process while it runs the job
    sa.Column("activation_note", sa.Text),  # why a succeeded job's model was (not) activated
    # Batches done in the running epoch (JSON), renewed with each heartbeat, for replicas without the
    # trainer's progress file (app/jobs/progress.py).
    sa.Column("progress", sa.Text),
)

epochs = sa.Table(
    "epochs",
    metadata,
    sa.Column("job_id", sa.Text, sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    sa.Column("metrics", sa.Text, nullable=False),
)

# The live-model pointer is the newest row; model_id NULL (first release only) stands for DIGITS_MODEL.
activations = sa.Table(
    "activations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Text),
    sa.Column("path", sa.Text),
    sa.Column("recorded_at", sa.Text, nullable=False),
)

# Every server process (replica or worker) and the activation it serves, so a trainer can tell when
# a swap has reached them all.
members = sa.Table(
    "members",
    metadata,
    sa.Column("member", sa.Text, primary_key=True),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("host", sa.Text),
    sa.Column("seen_at", sa.Text),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("metadata", sa.Text, nullable=False),  # the artifact's whole JSON sidecar
    sa.Column("architecture", sa.Text, nullable=False),  # JSON
    sa.Column("test_accuracy", sa.Float),
    sa.Column("created", sa.Text),
    sa.Column("source", sa.Text, nullable=False),  # "file" or "job"
    sa.Column("source_ref", sa.Text),  # the committed file's name, or the job id
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("location", sa.Text),  # a file path (embedded backend); NULL: the weights are in model_blobs
    sa.Column("registered_at", sa.Text, nullable=False),
    sa.Column("ever_live", sa.Boolean, nullable=False, default=False),
)

model_blobs = sa.Table(
    "model_blobs",
    metadata,
    sa.Column("model_id", sa.Text, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("weights", sa.LargeBinary, nullable=False),
)

service_meta = sa.Table(
    "service_meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
