"""Runs one training process at a time, records its progress as it arrives and installs its model."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.core.model_holder import ModelHolder
from app.jobs.process import TrainingProcess
from app.jobs.runner import JobSpec
from app.jobs.schemas import JobStatus, TrainRequest
from app.jobs.signals import on_stop_signal
from app.jobs.store import INTERRUPTED, JobRecord, JobStore, now
from training.artifacts import ArtifactError, metadata_path, read_metadata
from training.plots import plot_path
from training.run import new_model_id

log = logging.getLogger("app.jobs")

STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
EXIT_GRACE = 30.0  # seconds a child may take to exit after its last message
DATABASE = "jobs.sqlite3"


class JobConflictError(Exception):
    def __init__(self, running_id: str) -> None:
        super().__init__(f"job {running_id} is already queued or running")
        self.running_id = running_id


class JobNotFoundError(LookupError):
    pass


class JobFinishedError(Exception):
    def __init__(self, status: JobStatus) -> None:
        super().__init__(f"job already finished: {status}")
        self.status = status


@dataclass
class _Active:
    job_id: str
    out: Path
    activate: bool
    process: TrainingProcess
    cancel_requested: bool = False
    interrupted: bool = False
    finalizing: bool = False
    exited: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


def remove_artifact(weights: Path) -> None:
    """Delete whatever a job wrote for its (never activated) model id, including half-written temp files."""
    for path in (weights, metadata_path(weights), plot_path(weights), *weights.parent.glob(f".{weights.stem}.*.tmp")):
        path.unlink(missing_ok=True)


class JobManager:
    """Owns the single training slot; the child process only trains, this side records and swaps."""

    def __init__(self, store: JobStore, settings: Settings, holder: ModelHolder) -> None:
        self.store, self.settings, self.holder = store, settings, holder
        self._lock = threading.Lock()
        self._active: _Active | None = None
        self._closed = False
        self.stopping = threading.Event()  # set when the server is asked to stop: event streams end
        self._unhook_signals: Callable[[], None] = lambda: None

    @classmethod
    def open(cls, settings: Settings, holder: ModelHolder) -> JobManager:
        """Open the job database under the state directory and fail the jobs a dead server left behind."""
        manager = cls(JobStore(settings.state_dir / DATABASE), settings, holder)
        manager.recover()
        manager._unhook_signals = on_stop_signal(manager.stopping)
        return manager

    def artifact_path(self, model_id: str) -> Path:
        return self.settings.resolved_models_dir / f"{model_id}.safetensors"

    def recover(self) -> list[JobRecord]:
        """At start-up: jobs left queued or running by a dead server become failed, their partial files removed."""
        stale = self.store.mark_interrupted()
        for record in stale:
            remove_artifact(self.artifact_path(record.model_id))
            log.warning("job %s was interrupted by a server stop; marked failed", record.id)
        return stale

    def submit(self, request: TrainRequest) -> JobRecord:
        """Record the job and start its process, or raise JobConflictError if the slot is taken."""
        with self._lock:
            if self._closed:
                raise RuntimeError("job manager is shut down")
            if self._active is not None:
                raise JobConflictError(self._active.job_id)
            job_id = uuid.uuid4().hex
            model_id = new_model_id(request.arch, now())
            out = self.artifact_path(model_id)
            self.store.create(job_id, request, model_id)
            spec = JobSpec(
                job_id=job_id,
                model_id=model_id,
                arch=request.arch,
                epochs=request.epochs,
                learning_rate=request.learning_rate,
                batch_size=request.batch_size,
                seed=request.seed,
                train_limit=request.train_limit,
                threads=self.settings.training_threads,
                data_dir=str(self.settings.data_dir.resolve()),
                out=str(out.resolve()),
            )
            try:
                process = TrainingProcess.start(spec)
            except OSError:
                self.store.finish(job_id, JobStatus.FAILED, error="could not start the training process")
                raise
            self._active = _Active(job_id, out, request.activate, process)
            threading.Thread(target=self._watch, args=(self._active,), name=f"watch-{job_id[:8]}", daemon=True).start()
        log.info("job %s started (pid %s): %s", job_id, process.pid, request.model_dump_json())
        return self._get(job_id)

    def active_pid(self, job_id: str) -> int | None:
        active = self._active
        return active.process.pid if active is not None and active.job_id == job_id else None

    def cancel(self, job_id: str) -> JobRecord:
        """Stop a queued or running job's process (SIGTERM, then SIGKILL) and return it, now cancelled."""
        with self._lock:
            active = self._active if self._active is not None and self._active.job_id == job_id else None
            if active is not None and not active.finalizing:
                active.cancel_requested = True
        if active is None:
            raise JobFinishedError(self._get(job_id).status)
        if not active.cancel_requested:
            active.done.wait()  # it finished while we asked: report how
            raise JobFinishedError(self._get(job_id).status)
        self._stop(active)
        return self._get(job_id)

    def close(self) -> None:
        """Server shutdown: stop the running child, mark its job failed as interrupted, close the database."""
        self.stopping.set()
        self._unhook_signals()
        with self._lock:
            self._closed = True
            active = self._active
            if active is not None and not active.finalizing:
                active.interrupted = True
        if active is not None:
            if active.interrupted:
                self._stop(active)
            active.done.wait()
        self.store.close()

    def _get(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record is None:
            raise JobNotFoundError(job_id)
        return record

    def _stop(self, active: _Active) -> None:
        active.process.terminate()
        if not active.exited.wait(STOP_TIMEOUT):
            active.process.kill()
        active.done.wait()

    def _watch(self, active: _Active) -> None:
        """Persist each message as it arrives; when the pipe closes, the child is gone and the job ends."""
        outcome: dict[str, Any] | None = None
        error: str | None = None
        try:
            for message in active.process.messages():
                if message["event"] == "started":
                    self.store.mark_running(active.job_id)
                elif message["event"] == "epoch":
                    self.store.add_epoch(active.job_id, message["metrics"])
                elif message["event"] == "done":
                    outcome = message
                elif message["event"] == "error":
                    error = str(message["message"])
        except Exception:
            log.exception("job %s: lost contact with the training process", active.job_id)
            error = "lost contact with the training process"
        finally:
            active.process.reap(EXIT_GRACE)
            active.exited.set()
            self._finish(active, outcome, error)

    def _finish(self, active: _Active, outcome: dict[str, Any] | None, error: str | None) -> None:
        try:
            with self._lock:
                active.finalizing = True
            if active.cancel_requested or active.interrupted or outcome is None:
                remove_artifact(active.out)
                if active.cancel_requested:
                    self.store.finish(active.job_id, JobStatus.CANCELLED, error="cancelled by request")
                elif active.interrupted:
                    self.store.finish(active.job_id, JobStatus.FAILED, error=INTERRUPTED)
                else:
                    code = active.process.returncode
                    message = error or f"the training process exited unexpectedly (exit code {code})"
                    self.store.finish(active.job_id, JobStatus.FAILED, error=message)
            else:
                self._install(active, outcome)
            record = self.store.get(active.job_id)
            log.info("job %s ended: %s", active.job_id, record.status if record else "unknown")
        except Exception:
            log.exception("job %s: could not record its outcome", active.job_id)
        finally:
            with self._lock:
                self._active = None
            active.done.set()

    def _install(self, active: _Active, outcome: dict[str, Any]) -> None:
        """Load the new artifact on this thread (never the event loop) and swap it in, or fail the job."""
        try:
            if active.activate:
                loaded = self.holder.load(active.out)
                log.info("job %s: now serving model %s", active.job_id, loaded.id)
            else:
                read_metadata(active.out)  # the sidecar is the artifact's commit point
        except (ArtifactError, OSError):
            log.exception("job %s: trained model %s cannot be loaded", active.job_id, active.out)
            remove_artifact(active.out)
            self.store.finish(active.job_id, JobStatus.FAILED, error="the trained model could not be loaded")
            return
        self.store.finish(
            active.job_id, JobStatus.SUCCEEDED, test_accuracy=float(outcome["test_accuracy"]), activated=active.activate
        )
