"""Whether a database is already at the newest schema, asked with a plain query instead of Alembic.

Importing Alembic (and the PostgreSQL dialects its DDL module loads) costs ~0.1-0.25 s and ~6 MiB per
serving process, and nearly every start finds the database already current: only a database at another
revision (none, older, or unknown to this release) goes through Alembic (app/storage/migrate.py).
"""

from __future__ import annotations

import sqlalchemy as sa

from app.storage.database import Database

HEAD = "0003"  # the newest revision under migrations/versions; a test checks that Alembic agrees
VERSION_TABLE = "alembic_version"  # where Alembic records the revision (its default name)


def current_revisions(database: Database) -> list[str]:
    """The revisions the database records: none for a new database (no version table yet)."""
    with database.reading() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return []
        return list(conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def at_head(database: Database) -> bool:
    return current_revisions(database) == [HEAD]
