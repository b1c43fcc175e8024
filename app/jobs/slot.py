"""A trainer's one training slot: claim a job, start its process, record what it reports, install its model.

An outcome is recorded before it is visible: a new model serves only once the job's success, the
model's registry record (weights too, on PostgreSQL) and its activation are committed in one
transaction. If that write fails the swap does not happen, and the job is retried, then left for the
lease to fail; an artifact that was ever live is never deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app.core.config import Settings
from app.jobs.activations import ModelSync
from app.jobs.errors import JobFinishedError, JobNotFoundError
from app.jobs.ports import INTERRUPTED, JobRecord, JobStore, Outcome, Registry
from app.jobs.preflight import NoRoomError, check_room
from app.jobs.process import TrainingProcess
from app.jobs.progress import progress_path, read_progress
from app.jobs.runner import JobSpec
from app.jobs.schemas import JobStatus
from app.storage.artifacts import record_for
from app.storage.jobs import JobLostError
from training.artifact_format import ArtifactError, metadata_path
from training.plots import plot_path
from training.runtime import ServedModel, load_served

log = logging.getLogger("app.jobs")

STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
EXIT_GRACE = 30.0  # seconds a child may take to exit after its last message
SWAP_WAIT = 10.0  # seconds the trainer waits for every process to serve a new model before the job ends
RECORD_TRIES = (0.5, 1.0, 2.0, 4.0, 8.0)  # pauses between attempts to record an outcome the database refused
CANCELLED = "cancelled by request"


@dataclass
class _Active:
    job_id: str
    out: Path
    activate: bool
    force: bool
    process: TrainingProcess
    cancel_requested: bool = False
    interrupted: bool = False
    lost: bool = False  # another process failed the job after this one's lease expired
    finalizing: bool = False
    exited: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


def remove_artifact(weights: Path) -> None:
    """Delete whatever a job wrote for its model id, including half-written temp files."""
    for path in (weights, metadata_path(weights), plot_path(weights), *weights.parent.glob(f".{weights.stem}.*.tmp")):
        path.unlink(missing_ok=True)


def gate(new: float, live: float | None, tolerance_points: float) -> str | None:
    """Why a model of test accuracy NEW may not replace one of LIVE; None if it may."""
    if live is None or new >= live - tolerance_points / 100:
        return None
    return (
        f"not activated: test accuracy {new:.2%} is more than {tolerance_points:g} points below the live "
        f"model's {live:.2%} (DIGITS_ACTIVATION_TOLERANCE); activate it with POST /models/{{id}}/activate "
        "or retrain with force_activate"
    )


class TrainingSlot:
    """At most one training process; the child only trains, this side records and swaps."""

    def __init__(
        self,
        jobs: JobStore,
        registry: Registry,
        settings: Settings,
        sync: ModelSync,
        stopping: threading.Event,
        after_job: Callable[[], None] = lambda: None,
    ) -> None:
        self.jobs, self.registry, self.settings, self.sync, self.stopping = jobs, registry, settings, sync, stopping
        self.after_job = after_job  # retention, once a job's outcome is recorded
        self.trainer = sync.member
        self._lock = threading.Lock()
        self._active: _Active | None = None
        self.closed = False

    def artifact_path(self, model_id: str) -> Path:
        return self.settings.resolved_models_dir / f"{model_id}.safetensors"

    def active_pid(self, job_id: str) -> int | None:
        active = self._active
        return active.process.pid if active is not None and active.job_id == job_id else None

    def start_next(self) -> None:
        """Claim the oldest queued job nobody claimed, if the slot is free, and start its process."""
        with self._lock:
            if self._active is not None or self.closed:
                return
            record = self.jobs.claim_next(self.trainer)
            if record is None:
                return
            try:
                check_room(self.settings)
            except NoRoomError as exc:
                log.error("job %s: %s", record.id, exc)
                self.jobs.finish(record.id, JobStatus.FAILED, error=str(exc))
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
                rendered=request.rendered,
                nondigits=request.nondigits,
                cache_dir=str((self.settings.state_dir / "cache").resolve()),
            )
            try:
                process = TrainingProcess.start(spec)
            except OSError:
                log.exception("job %s: could not start the training process", record.id)
                self.jobs.finish(record.id, JobStatus.FAILED, error="could not start the training process")
                return
            self._active = active = _Active(record.id, out, request.activate, request.force_activate, process)
            threading.Thread(target=self._watch, args=(active,), name=f"watch-{record.id[:8]}", daemon=True).start()
        log.info("job %s started (pid %s): %s", record.id, process.pid, request.model_dump_json())

    def heartbeat(self) -> None:
        """Renew the lease on the running job; if another process has failed it meanwhile, stop training it."""
        active = self._active
        if active is None or active.finalizing:
            return
        # The progress goes with the lease, so replicas that cannot read this machine's file can send it too.
        progress = read_progress(progress_path(self.settings, active.job_id))
        if not self.jobs.heartbeat(active.job_id, self.trainer, progress):
            record = self.jobs.get(active.job_id)
            if record is not None and record.status.finished and not active.finalizing:
                log.error("job %s was failed by another process (%s); stopping it", active.job_id, record.error)
                active.lost = True
                active.process.terminate()

    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a job this slot runs (SIGTERM, then SIGKILL) or nobody has started; None if neither."""
        with self._lock:
            active = self._active if self._active is not None and self._active.job_id == job_id else None
            if active is not None and not active.finalizing:
                active.cancel_requested = True
            elif active is None and self.jobs.cancel_unclaimed(job_id, CANCELLED):
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
        record = self.jobs.get(job_id)
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
                    self.jobs.mark_running(active.job_id)
                elif message["event"] == "epoch":
                    self.jobs.add_epoch(active.job_id, message["metrics"])
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
            if active.lost or active.cancel_requested or active.interrupted or outcome is None:
                remove_artifact(active.out)  # never recorded, so never live
                if active.lost:
                    pass  # the process that failed it has recorded why
                elif active.cancel_requested:
                    self.jobs.finish(active.job_id, JobStatus.CANCELLED, error=CANCELLED)
                elif active.interrupted:
                    self.jobs.finish(active.job_id, JobStatus.FAILED, error=INTERRUPTED)
                else:
                    code = active.process.returncode
                    message = error or f"the training process exited unexpectedly (exit code {code})"
                    self.jobs.finish(active.job_id, JobStatus.FAILED, error=message)
            else:
                self._install(active, outcome)
            record = self.jobs.get(active.job_id)
            log.info("job %s ended: %s", active.job_id, record.status if record else "unknown")
            self.after_job()
        except Exception:
            log.exception("job %s: could not record its outcome", active.job_id)
        finally:
            with self._lock:
                self._active = None
            active.done.set()

    def _install(self, active: _Active, outcome: dict[str, Any]) -> None:
        """Check the new artifact loads, record the outcome (and activation), then swap it in here."""
        embedded = not self.sync.artifacts.in_database()
        try:
            loaded = load_served(active.out)  # on this thread, never the event loop
            model = record_for(active.out, "job", active.job_id, str(active.out.resolve()) if embedded else None)
        except (ArtifactError, OSError):
            log.exception("job %s: trained model %s cannot be loaded", active.job_id, active.out)
            remove_artifact(active.out)
            self.jobs.finish(active.job_id, JobStatus.FAILED, error="the trained model could not be loaded")
            return
        accuracy = float(outcome["test_accuracy"])
        activate, note = self._decide(active, accuracy)
        result = Outcome(active.job_id, self.trainer, accuracy, model, active.out, activate, note)
        try:
            version = self._record(result)
        except JobLostError:
            log.error("job %s was failed by another process before its outcome was recorded", active.job_id)
            remove_artifact(active.out)
            return
        if not embedded:
            remove_artifact(active.out)  # the database holds the weights now
        if version is not None:
            self._serve(active.job_id, loaded, version)
            self.jobs.finish(active.job_id, JobStatus.SUCCEEDED, test_accuracy=accuracy, activated=True)

    def _decide(self, active: _Active, accuracy: float) -> tuple[bool, str]:
        if not active.activate:
            return False, "not activated: the request set activate=false"
        if active.force:
            return True, "activated (forced: the quality gate was skipped)"
        live = self.sync.latest()
        live_record = self.registry.get(live.model_id) if live is not None and live.model_id is not None else None
        reason = gate(accuracy, live_record.test_accuracy if live_record else None, self.settings.activation_tolerance)
        if reason is not None:
            log.warning("job %s: %s", active.job_id, reason)
            return False, reason
        return True, "activated"

    def _record(self, outcome: Outcome) -> int | None:
        """Record the outcome, retrying while the database refuses; then gives up, and the lease fails the job."""
        for pause in (*RECORD_TRIES, None):
            try:
                return self.jobs.succeed(outcome)
            except SQLAlchemyError as exc:
                if pause is None or self.stopping.is_set():
                    log.error("job %s: could not record its outcome (%s); the model is not served", outcome.job_id, exc)
                    raise
                log.warning("job %s: recording its outcome failed (%s); retrying in %g s", outcome.job_id, exc, pause)
                time.sleep(pause)
        return None

    def _serve(self, job_id: str, loaded: ServedModel, version: int) -> None:
        self.sync.install(loaded, version)
        log.info("job %s: now serving model %s", job_id, loaded.id)
        # The job reads succeeded once every server process serves the model, whichever one a client asks.
        lagging = self.sync.wait_until_served(SWAP_WAIT, self.stopping)
        if lagging:
            log.warning("job %s: processes %s do not serve its model yet", job_id, lagging)
