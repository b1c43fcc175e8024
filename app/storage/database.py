"""Open the database a server's state lives in: a SQLite file (embedded) or PostgreSQL, migrated, checked."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

SQLITE_FILE = "jobs.sqlite3"
NOTIFY_CHANNEL = "digits_live"


class DatabaseDamagedError(Exception):
    """The database exists but fails its integrity check: nothing may be written to it or reset."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _driver_url(url: str) -> str:
    """postgresql://... as users write it, on psycopg 3 (SQLAlchemy's default would be psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_sqlite_file(path: Path, timeout: float = 10.0) -> None:
    """Raise DatabaseDamagedError unless PATH is absent or a SQLite database that passes quick_check.

    A file truncated to 0 bytes is damage too: opening it would start an empty database without a word.
    """
    if not path.exists():
        return
    if path.stat().st_size == 0:
        raise DatabaseDamagedError(f"{path} is empty (0 bytes): the job database was truncated")
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise  # held by another process for longer than the timeout: not damage
        raise DatabaseDamagedError(f"{path} is not a readable SQLite database: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise DatabaseDamagedError(f"{path} is not a readable SQLite database: {exc}") from exc
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    if problems:
        raise DatabaseDamagedError(f"{path} failed its integrity check: {'; '.join(problems[:3])}")


class Database:
    """An engine plus the one difference the queries care about: whether it is PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    @classmethod
    def open(cls, url: str) -> Database:
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            check_sqlite_file(path)
            return cls(_sqlite_engine(url))
        return cls(sa.create_engine(_driver_url(url), pool_size=4, max_overflow=4, pool_pre_ping=True))

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE, so two processes never both pass a check)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction: on SQLite it does not wait for writers."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(digits_read_only=True)
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 10.0, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver's own BEGIN is deferred; ours are explicit
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("digits_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
