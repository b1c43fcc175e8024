"""Job records in an embedded SQLite database, so they outlive the server process."""

from __future__ import annotations

import json
import sqlite3
import threading
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
    error TEXT
);
CREATE TABLE IF NOT EXISTS epochs (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (job_id, epoch)
);
"""
INTERRUPTED = "interrupted: the server stopped while the job was running"


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
    """One connection shared by the server's threads behind a lock; every write is committed at once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock, self._db:
            return self._db.execute(sql, params).rowcount

    def create(self, job_id: str, request: TrainRequest, model_id: str) -> None:
        self._write(
            "INSERT INTO jobs (id, status, request, model_id, created_at) VALUES (?, ?, ?, ?, ?)",
            (job_id, JobStatus.QUEUED, request.model_dump_json(), model_id, now().isoformat()),
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

    def mark_interrupted(self) -> list[JobRecord]:
        """Fail every job still queued or running: at start-up, no process can be working on them."""
        with self._lock, self._db:
            stale = [row[0] for row in self._db.execute("SELECT id FROM jobs WHERE status IN ('queued', 'running')")]
            self._db.executemany(
                "UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                [(now().isoformat(), INTERRUPTED, job_id) for job_id in stale],
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
