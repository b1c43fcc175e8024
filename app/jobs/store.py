"""Job records in an embedded SQLite database, so they outlive the server process."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.jobs.schemas import JobStatus, TrainRequest

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    model_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    test_accuracy REAL,
    activated INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    claimed INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS epochs (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (job_id, epoch)
);
CREATE TABLE IF NOT EXISTS activations (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT,
    path TEXT,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    member TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    version INTEGER NOT NULL
);
"""
# Columns added after the first release: a database written by it gains them when opened.
ADDED_COLUMNS = {
    "claimed": "INTEGER NOT NULL DEFAULT 0",  # the leader has started (or is starting) a process for the job
    "cancel_requested": "INTEGER NOT NULL DEFAULT 0",  # set by any server process, enacted by the leader
}
ACTIVE = "status IN ('queued', 'running')"
INTERRUPTED = "interrupted: the server stopped while the job was running"
LEADER_LOST = "interrupted: the server process running the job stopped; another one leads now"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JobRecord:
    id: str
    status: JobStatus
    request: TrainRequest
    model_id: str  # planned when the job is created, so the artifact's path is known before training
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    test_accuracy: float | None
    activated: bool
    error: str | None
    history: list[dict[str, Any]]


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class JobStore:
    """One connection per process, shared by its threads behind a lock; every write is committed at once.

    Several server processes may open the same file: SQLite serialises their writes, and the
    check-then-write steps below run in IMMEDIATE transactions so two processes never both pass a check.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for column, definition in ADDED_COLUMNS.items():
                if column not in present:
                    try:
                        self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {definition}")
                    except sqlite3.OperationalError as exc:
                        if "duplicate column" not in str(exc):  # another process added it first
                            raise
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock, self._db:
            return self._db.execute(sql, params).rowcount

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at once (BEGIN IMMEDIATE): other writers, in any process, wait for it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.rollback()
                raise
            self._db.commit()

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one statement in its own transaction; returns the number of rows it changed."""
        return self._write(sql, params)

    def create(self, job_id: str, request: TrainRequest, model_id: str) -> None:
        self._write(
            "INSERT INTO jobs (id, status, request, model_id, created_at) VALUES (?, ?, ?, ?, ?)",
            (job_id, JobStatus.QUEUED, request.model_dump_json(), model_id, now().isoformat()),
        )

    def create_exclusive(self, job_id: str, request: TrainRequest, model_id: str) -> str | None:
        """Record a queued job unless one is queued or running already; returns that job's id if so."""
        with self.transaction() as db:
            row = db.execute(f"SELECT id FROM jobs WHERE {ACTIVE} ORDER BY created_at, rowid LIMIT 1").fetchone()
            if row is not None:
                return str(row[0])
            db.execute(
                "INSERT INTO jobs (id, status, request, model_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (job_id, JobStatus.QUEUED, request.model_dump_json(), model_id, now().isoformat()),
            )
        return None

    def claim_next(self) -> JobRecord | None:
        """The oldest queued job no process was started for, now marked as claimed (by the leader)."""
        pending = "SELECT id FROM jobs WHERE status = 'queued' AND claimed = 0 AND cancel_requested = 0"
        if not self.query(pending + " LIMIT 1"):
            return None  # the common case, polled often: no write transaction
        with self.transaction() as db:
            row = db.execute(pending + " ORDER BY created_at, rowid LIMIT 1").fetchone()
            if row is not None:
                db.execute("UPDATE jobs SET claimed = 1 WHERE id = ?", (row[0],))
        return self.get(row[0]) if row is not None else None

    def request_cancel(self, job_id: str) -> bool:
        """Ask the leader to cancel a queued or running job; False if it has finished already."""
        return self._write(f"UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND {ACTIVE}", (job_id,)) > 0

    def cancel_requests(self) -> list[str]:
        """Queued or running jobs someone asked to cancel, oldest first."""
        return [
            row[0]
            for row in self.query(f"SELECT id FROM jobs WHERE cancel_requested = 1 AND {ACTIVE} ORDER BY created_at")
        ]

    def cancel_unclaimed(self, job_id: str, error: str) -> bool:
        """Cancel a queued job no process was started for; False if it has been claimed or has finished."""
        return (
            self._write(
                "UPDATE jobs SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status = 'queued' "
                "AND claimed = 0",
                (JobStatus.CANCELLED, now().isoformat(), error, job_id),
            )
            > 0
        )

    def mark_running(self, job_id: str) -> None:
        self._write(
            "UPDATE jobs SET status = ?, started_at = ? WHERE id = ? AND status = ?",
            (JobStatus.RUNNING, now().isoformat(), job_id, JobStatus.QUEUED),
        )

    def add_epoch(self, job_id: str, metrics: dict[str, Any]) -> None:
        self._write(
            "INSERT OR REPLACE INTO epochs (job_id, epoch, metrics) VALUES (?, ?, ?)",
            (job_id, int(metrics["epoch"]), json.dumps(metrics)),
        )

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        error: str | None = None,
        test_accuracy: float | None = None,
        activated: bool = False,
    ) -> None:
        self._write(
            "UPDATE jobs SET status = ?, finished_at = ?, error = ?, test_accuracy = ?, activated = ? "
            "WHERE id = ? AND status IN ('queued', 'running')",
            (status, now().isoformat(), error, test_accuracy, int(activated), job_id),
        )

    def mark_interrupted(self, claimed_only: bool = False) -> list[JobRecord]:
        """Fail every job still queued or running (CLAIMED_ONLY: those a process was started for).

        When a server starts, no process can be working on any of them; when a leader takes over from
        one that died, the processes that one started died with it, and jobs nobody started can still run.
        """
        claimed, error = (" AND claimed = 1", LEADER_LOST) if claimed_only else ("", INTERRUPTED)
        with self.transaction() as db:
            stale = [row[0] for row in db.execute(f"SELECT id FROM jobs WHERE {ACTIVE}{claimed}")]
            db.executemany(
                "UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                [(now().isoformat(), error, job_id) for job_id in stale],
            )
        return [record for job_id in stale if (record := self.get(job_id)) is not None]

    def get(self, job_id: str) -> JobRecord | None:
        records = self._select("WHERE id = ?", (job_id,))
        return records[0] if records else None

    def recent(self, limit: int) -> list[JobRecord]:
        """Newest first."""
        return self._select("ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,))

    def _select(self, clause: str, params: tuple[Any, ...]) -> list[JobRecord]:
        columns = "id, status, request, model_id, created_at, started_at, finished_at, test_accuracy, activated, error"
        with self._lock:
            rows = self._db.execute(f"SELECT {columns} FROM jobs {clause}", params).fetchall()
            histories = {
                row[0]: [
                    json.loads(metrics)
                    for (metrics,) in self._db.execute(
                        "SELECT metrics FROM epochs WHERE job_id = ? ORDER BY epoch", (row[0],)
                    )
                ]
                for row in rows
            }
        return [
            JobRecord(
                id=row[0],
                status=JobStatus(row[1]),
                request=TrainRequest.model_validate_json(row[2]),
                model_id=row[3],
                created_at=datetime.fromisoformat(row[4]),
                started_at=_time(row[5]),
                finished_at=_time(row[6]),
                test_accuracy=row[7],
                activated=bool(row[8]),
                error=row[9],
                history=histories[row[0]],
            )
            for row in rows
        ]
