"""Who may run training jobs: one process per state directory (embedded), or every trainer (PostgreSQL).

Embedded: the holder of STATE_DIR/leader.lock (a flock, released however its process dies) trains.
PostgreSQL: every process with DIGITS_TRAINER claims jobs with FOR UPDATE SKIP LOCKED and heartbeats
them; a job whose heartbeat stops is failed by any process after the lease (app/storage/jobs.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from app.jobs.locks import FileLock, try_lead


class FileLease:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._lock: FileLock | None = None

    def try_take(self) -> bool:
        if self._lock is None:
            self._lock = try_lead(self.state_dir)
        return self._lock is not None

    def held(self) -> bool:
        return self._lock is not None

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


class TrainerRole:
    """PostgreSQL: the role is configuration (DIGITS_TRAINER); the database decides who runs which job."""

    def __init__(self, trainer: bool) -> None:
        self._trainer = trainer
        self._taken = False

    def try_take(self) -> bool:
        self._taken = self._trainer
        return self._taken

    def held(self) -> bool:
        return self._taken

    def release(self) -> None:
        self._taken = False


def describe(lease: object) -> str:
    if isinstance(lease, FileLease):
        return f"process {os.getpid()} leads: it runs the training jobs (it holds leader.lock)"
    return f"process {os.getpid()} is a trainer: it claims queued jobs from the database"
