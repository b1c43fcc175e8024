"""Both storage backends for tests: a SQLite file, or a PostgreSQL database created for the test and dropped after.

PostgreSQL comes from DIGITS_TEST_POSTGRES (default: the machine's server, trust auth, user postgres,
database test); where none answers, the test skips, or fails under CI=true (tests/availability.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from app.storage import migrate
from app.storage.database import Database, sqlite_url
from tests.availability import unavailable

ADMIN_URL = os.environ.get("DIGITS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["embedded", "postgres"]


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def postgres_url() -> Iterator[str]:
    """A new empty PostgreSQL database's URL, dropped (with its connections) afterwards."""
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable at {ADMIN_URL}: {str(exc).strip()}")
    name = f"digits_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield _with_database(ADMIN_URL, name)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def backend_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "postgres":
        with postgres_url() as url:
            yield url
    else:
        yield sqlite_url(tmp_path / "state" / "jobs.sqlite3")


@contextmanager
def opened(url: str) -> Iterator[Database]:
    database = Database.open(url)
    try:
        migrate.upgrade(database)
        yield database
    finally:
        database.close()


def opened_database(url: str) -> Database:
    """A migrated database the caller closes."""
    database = Database.open(url)
    migrate.upgrade(database)
    return database
