"""The seams between job control and where state lives: records, and the interfaces each backend implements.

The embedded backend (SQLite + a local directory) and the PostgreSQL one implement these in
app/storage; job control (app/jobs) and the HTTP layer (app/api) only ever see these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from app.jobs.schemas import JobStatus, TrainRequest
from training.runtime import ServedModel

INTERRUPTED = "interrupted: the server stopped while the job was running"
LEADER_LOST = "interrupted: the server process running the job stopped; another one leads now"
LEASE_LOST = "interrupted: the trainer running the job stopped answering (its lease expired)"


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
    activation_note: str | None = None
    progress: dict[str, Any] | None = None  # batches done in the running epoch, as of the last heartbeat


@dataclass(frozen=True)
class ModelRecord:
    id: str
    metadata: dict[str, Any]  # the artifact's JSON sidecar
    test_accuracy: float | None
    created: str | None
    source: str  # "file" (committed or found on disk) or "job"
    source_ref: str | None  # the file's name, or the job's id
    sha256: str
    size: int
    location: str | None  # a file path, or None where the weights live in the database
    registered_at: datetime
    ever_live: bool


@dataclass(frozen=True)
class Activation:
    version: int
    model_id: str | None  # None: DIGITS_MODEL (written by the first releases only)


@dataclass(frozen=True)
class Outcome:
    """A succeeded job's result, recorded in one transaction with its model (and the activation, if any)."""

    job_id: str
    trainer: str
    test_accuracy: float
    model: ModelRecord
    weights: Path  # where the training process wrote them
    activate: bool
    note: str


class JobStore(Protocol):
    def create(self, job_id: str, request: TrainRequest, model_id: str) -> None: ...
    def create_exclusive(self, job_id: str, request: TrainRequest, model_id: str) -> str | None: ...
    def claim_next(self, trainer: str) -> JobRecord | None: ...
    def heartbeat(self, job_id: str, trainer: str, progress: dict[str, Any] | None = None) -> bool: ...
    def request_cancel(self, job_id: str) -> bool: ...
    def cancel_requests(self) -> list[str]: ...
    def cancel_unclaimed(self, job_id: str, error: str) -> bool: ...
    def mark_running(self, job_id: str) -> None: ...
    def add_epoch(self, job_id: str, metrics: dict[str, Any]) -> None: ...
    def finish(
        self,
        job_id: str,
        status: JobStatus,
        error: str | None = None,
        test_accuracy: float | None = None,
        activated: bool = False,
    ) -> bool: ...
    def succeed(self, outcome: Outcome) -> int | None: ...
    def mark_interrupted(self, claimed_only: bool = False) -> list[JobRecord]: ...
    def expire_leases(self, lease_seconds: float) -> list[JobRecord]: ...
    def get(self, job_id: str) -> JobRecord | None: ...
    def job_for_model(self, model_id: str) -> JobRecord | None: ...
    def recent(self, limit: int) -> list[JobRecord]: ...
    def prune(self, keep: int | None, max_age_days: float | None) -> list[str]: ...


class Registry(Protocol):
    def register(self, record: ModelRecord, weights: bytes | None) -> bool: ...
    def get(self, model_id: str) -> ModelRecord | None: ...
    def all(self) -> list[ModelRecord]: ...
    def live(self) -> Activation | None: ...
    def activate(self, model_id: str) -> int: ...
    def delete(self, model_id: str) -> ModelRecord: ...
    def prune(self, keep: int | None, max_age_days: float | None) -> list[ModelRecord]: ...
    def note_member(self, member: str, version: int) -> None: ...
    def lagging_members(self, member: str, version: int, stale_seconds: float) -> list[str]: ...
    def leave(self, member: str) -> None: ...
    def clear_members(self) -> None: ...
    def secret(self, key: str, make: str) -> str: ...


class ArtifactStore(Protocol):
    """Where a registered model's weights live: files on this machine, or the database."""

    def load(self, record: ModelRecord) -> ServedModel: ...
    def weights(self, record: ModelRecord) -> bytes: ...
    def in_database(self) -> bool: ...


class TrainerLease(Protocol):
    """Whether this process may run training jobs now; held for the process's life once taken."""

    def try_take(self) -> bool: ...
    def held(self) -> bool: ...
    def release(self) -> None: ...


class Listener(Protocol):
    """Calls back soon after another process activates a model (PostgreSQL: LISTEN/NOTIFY)."""

    def start(self, on_change: Callable[[], None]) -> None: ...
    def stop(self) -> None: ...
