"""The storage settings (which backend, who trains, a lease that outlasts the heartbeats) and the database check."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import Settings
from app.storage.database import DatabaseDamagedError, check_sqlite_file


def test_embedded_processes_train_and_postgres_replicas_do_not_unless_told() -> None:
    assert Settings().embedded
    assert Settings().is_trainer
    replica = Settings(database_url=SecretStr("postgresql://postgres@127.0.0.1/db"))
    assert not replica.embedded
    assert not replica.is_trainer
    assert Settings(database_url=SecretStr("postgresql://postgres@127.0.0.1/db"), trainer=True).is_trainer
    assert not Settings(trainer=False).is_trainer


def test_a_lease_shorter_than_two_heartbeats_is_refused() -> None:
    with pytest.raises(ValidationError, match="DIGITS_TRAINER_LEASE_SECONDS"):
        Settings(heartbeat_seconds=2, trainer_lease_seconds=3)
    with pytest.raises(ValidationError, match="DIGITS_TRAINER_LEASE_SECONDS"):
        Settings(poll_seconds=5, trainer_lease_seconds=6)
    assert Settings(heartbeat_seconds=0.5, trainer_lease_seconds=1).trainer_lease_seconds == 1


def test_a_locked_database_is_not_mistaken_for_a_damaged_one(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with closing(sqlite3.connect(path)) as holder:
        holder.execute("CREATE TABLE t (x)")
        holder.commit()
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            check_sqlite_file(path, timeout=0.1)
    check_sqlite_file(path)
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 10)
    with pytest.raises(DatabaseDamagedError):
        check_sqlite_file(path)
