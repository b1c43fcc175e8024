"""The leader's one training slot: start a job's process, record what it reports, install its model, stop it."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.jobs.activations import ModelSync
from app.jobs.errors import JobFinishedError, JobNotFoundError
from app.jobs.process import TrainingProcess
from app.jobs.progress import progress_path
from app.jobs.runner import JobSpec
from app.jobs.schemas import JobStatus
from app.jobs.store import INTERRUPTED, JobRecord, JobStore
from training.artifacts import ArtifactError, metadata_path, read_metadata
from training.plots import plot_path

log = logging.getLogger("app.jobs")

STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
EXIT_GRACE = 30.0  # seconds a child may take to exit after its last message
SWAP_WAIT = 10.0  # seconds the leader waits for every process to serve a new model before the job ends
CANCELLED = "cancelled by request"


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


class TrainingSlot:
    """At most one training process; the child only trains, this side records and swaps."""

    def __init__(self, store: JobStore, settings: Settings, sync: ModelSync, stopping: threading.Event) -> None:
        self.store, self.settings, self.sync, self.stopping = store, settings, sync, stopping
        self._lock = threading.Lock()
        self._active: _Active | None = None
        self.closed = False

    def artifact_path(self, model_id: str) -> Path:
        return self.settings.resolved_models_dir / f"{model_id}.safetensors"

    def active_pid(self, job_id: str) -> int | None:
        active = self._active
        return active.process.pid if active is not None and active.job_id == job_id else None

    def start_next(self) -> None:
        """Start the oldest queued job no process was started for, if the slot is free."""
        with self._lock:
            if self._active is not None or self.closed:
                return
            record = self.store.claim_next()
            if record is None:
                return
            request, out = record.request, self.artifact_path(record.model_id)
            spec = JobSpec(
                job_id=record.id,
                model_id=record.model_id,
                arch=request.arch,
                epochs=request.epochs,
                learning_rate=request.learning_rate,
                batch_size=request.batch_size,
                seed=request.seed,
                train_limit=request.train_limit,
                threads=self.settings.training_threads,
                data_dir=str(self.settings.data_dir.resolve()),
                out=str(out.resolve()),
                progress=str(progress_path(self.settings, record.id).resolve()),
            )
            try:
                process = TrainingProcess.start(spec)
            except OSError:
                log.exception("job %s: could not start the training process", record.id)
                self.store.finish(record.id, JobStatus.FAILED, error="could not start the training process")
                return
            self._active = active = _Active(record.id, out, request.activate, process)
            threading.Thread(target=self._watch, args=(active,), name=f"watch-{record.id[:8]}", daemon=True).start()
        log.info("job %s started (pid %s): %s", record.id, process.pid, request.model_dump_json())

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a job this slot runs (SIGTERM, then SIGKILL) or nobody has started; None if neither."""
        with self._lock:
            active = self._active if self._active is not None and self._active.job_id == job_id else None
            if active is not None and not active.finalizing:
                active.cancel_requested = True
            elif active is None and self.store.cancel_unclaimed(job_id, CANCELLED):
                return self._get(job_id)
        if active is None:
            status = self._get(job_id).status
            if status.finished:
                raise JobFinishedError(status)
            return None
        if not active.cancel_requested:
            active.done.wait()  # it finished while we asked: report how
            raise JobFinishedError(self._get(job_id).status)
        self._stop(active)
        return self._get(job_id)

    def close(self) -> None:
        """Server shutdown: stop the running child and mark its job failed as interrupted."""
        with self._lock:
            self.closed = True
            active = self._active
            if active is not None and not active.finalizing:
                active.interrupted = True
        if active is not None:
            if active.interrupted:
                self._stop(active)
            active.done.wait()

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
                    self.store.finish(active.job_id, JobStatus.CANCELLED, error=CANCELLED)
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
                model_id = self.sync.activate(active.out)
                log.info("job %s: now serving model %s", active.job_id, model_id)
            else:
                read_metadata(active.out)  # the sidecar is the artifact's commit point
        except (ArtifactError, OSError):
            log.exception("job %s: trained model %s cannot be loaded", active.job_id, active.out)
            remove_artifact(active.out)
            self.store.finish(active.job_id, JobStatus.FAILED, error="the trained model could not be loaded")
            return
        if active.activate:
            # The job reads succeeded only once every server process serves the model, whichever one a client asks.
            lagging = self.sync.wait_until_served(SWAP_WAIT, self.stopping)
            if lagging:
                log.warning("job %s: processes %s do not serve its model yet", active.job_id, lagging)
        self.store.finish(
            active.job_id, JobStatus.SUCCEEDED, test_accuracy=float(outcome["test_accuracy"]), activated=active.activate
        )
