"""Alembic's entry point: migrate the connection app/storage/migrate.py hands over (never a URL of its own)."""

from __future__ import annotations

from alembic import context

from app.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
