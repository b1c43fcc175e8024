"""Job control and the model registry for one server process, among any number sharing one database.

Embedded backend: the processes of one server share STATE_DIR; the holder of leader.lock trains, and
if it dies another takes the lock within about a second and fails the jobs it was running.
PostgreSQL: replicas share only the database; every process with the trainer role claims queued jobs
(FOR UPDATE SKIP LOCKED) and heartbeats the one it runs; any process fails a job whose trainer's
lease has expired. Either way a model serves only once its activation is recorded, and every process
follows the newest activation (polling; on PostgreSQL also LISTEN/NOTIFY).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from app.core.config import Settings
from app.core.model_holder import ModelHolder
from app.jobs.activations import ModelSync
from app.jobs.auth import resolve_admin_token
from app.jobs.errors import JobConflictError, JobFinishedError, JobNotFoundError
from app.jobs.locks import FileLock, join_server
from app.jobs.ports import JobRecord, ModelRecord, now
from app.jobs.preflight import check_room
from app.jobs.schemas import JobStatus, TrainRequest
from app.jobs.signals import on_stop_signal
from app.jobs.slot import TrainingSlot, remove_artifact
from app.storage.backend import Backend, open_backend, register_committed, register_found
from app.storage.leases import describe
from app.storage.registry import ModelLiveError, ModelNotFoundError
from training.artifact_format import new_model_id

log = logging.getLogger("app.jobs")

ELECTION_SECONDS = 1.0  # how often an embedded follower tries to take the leader's lock
CANCEL_WAIT = 10.0  # seconds a DELETE on another process waits for the trainer to stop the job
ORPHAN_GRACE = 3.0  # a dead leader's training process notices within a second and exits (app/jobs/runner.py)

__all__ = ["JobManager", "ModelLiveError", "ModelNotFoundError"]


class JobManager:
    """Submits and cancels jobs from any process; runs them if this process trains; lists and activates models."""

    def __init__(self, backend: Backend, settings: Settings, sync: ModelSync, admin_token: str) -> None:
        self.backend, self.settings, self.sync, self.admin_token = backend, settings, sync, admin_token
        self.store, self.registry = backend.jobs, backend.registry
        self.stopping = threading.Event()  # set when the server is asked to stop: event streams end
        self.slot = TrainingSlot(backend.jobs, backend.registry, settings, sync, self.stopping, self.prune)
        self._unhook_signals: Callable[[], None] = lambda: None
        self._server_lock: FileLock | None = None
        self._halt = threading.Event()
        self._poller: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings, holder: ModelHolder) -> JobManager:
        """Open the backend, register the committed models and serve the live one; train if this process may.

        Embedded: the first process of a server (the others wait for it here) fails the jobs a dead server
        left queued or running, and registers models a state from before the registry holds.
        Raises DatabaseDamagedError (or a driver error) if the database cannot be used.
        """
        server_lock, first = join_server(settings.state_dir) if settings.embedded else (None, True)
        backend: Backend | None = None
        try:
            backend = open_backend(settings)
            fresh_server = first and backend.embedded
            configured_id = register_committed(backend, settings.model)
            token = resolve_admin_token(settings, None if backend.embedded else backend.registry, first)
            sync = ModelSync(
                backend.registry,
                backend.artifacts,
                holder,
                settings.model,
                configured_id,
                settings.trainer_lease_seconds,
            )
            manager = cls(backend, settings, sync, token)
            if fresh_server:
                manager.recover(claimed_only=False)
                register_found(backend, settings.resolved_models_dir)
            manager.sync.join(fresh_server)
            if server_lock is not None:
                server_lock.shared()  # set up: processes waiting to join may go on
        except BaseException:
            if backend is not None:
                backend.close()
            if server_lock is not None:
                server_lock.close()
            raise
        manager._server_lock = server_lock
        if not manager._try_lead():
            log.info(
                "process %d does not train: %s",
                os.getpid(),
                "another holds leader.lock" if settings.is_trainer else "DIGITS_TRAINER is off",
            )
        manager.prune()
        manager._unhook_signals = on_stop_signal(manager.stopping)
        if backend.listener is not None:
            backend.listener.start(manager._on_activation)
        manager._poller = threading.Thread(target=manager._poll, name="jobs-poll", daemon=True)
        manager._poller.start()
        return manager

    @property
    def leader(self) -> bool:
        """Whether this process runs training jobs."""
        return self.backend.lease.held()

    def recover(self, claimed_only: bool) -> list[JobRecord]:
        """Embedded: fail jobs a dead server (CLAIMED_ONLY: a dead leader) left unfinished; remove their files.

        A file is removed only if no model record holds it: a recorded model may serve, or have served.
        """
        stale = self.store.mark_interrupted(claimed_only=claimed_only)
        for record in stale:
            if self.registry.get(record.model_id) is not None:
                continue
            weights = self.slot.artifact_path(record.model_id)
            remove_artifact(weights)
            if claimed_only:  # its training process may still be writing for a moment
                later = threading.Timer(ORPHAN_GRACE, self._remove_unrecorded, args=(record.model_id,))
                later.daemon = True
                later.start()
            log.warning("job %s was interrupted by a server stop; marked %s", record.id, record.status)
        return stale

    def _remove_unrecorded(self, model_id: str) -> None:
        if self.registry.get(model_id) is None:
            remove_artifact(self.slot.artifact_path(model_id))

    def submit(self, request: TrainRequest) -> JobRecord:
        """Record the job (a trainer starts it at once), or raise JobConflictError if one is queued or running.

        Raises NoRoomError first if the directories a job writes to are unwritable or full.
        """
        if self.slot.closed:
            raise RuntimeError("job manager is shut down")
        if self.backend.embedded or self.leader:  # a serving-only replica writes nothing; its trainer checks
            check_room(self.settings)
        job_id = uuid.uuid4().hex
        running = self.store.create_exclusive(job_id, request, new_model_id(request.arch, now()))
        if running is not None:
            raise JobConflictError(running)
        if self.leader:
            self.slot.start_next()
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record is None:
            raise JobNotFoundError(job_id)
        return record

    def recent(self, limit: int) -> list[JobRecord]:
        return self.store.recent(limit)

    def active_pid(self, job_id: str) -> int | None:
        """The pid of the job's training process, if this process runs it."""
        return self.slot.active_pid(job_id)

    def cancel(self, job_id: str) -> JobRecord:
        """Stop a queued or running job's process (SIGTERM, then SIGKILL) and return it, now cancelled.

        Where another process trains, it does: the job returned is still unfinished if it did not within CANCEL_WAIT.
        """
        if self.leader:
            record = self.slot.cancel(job_id)
            if record is not None:
                return record
        return self._cancel_through_store(job_id)

    # The registry

    def models(self) -> list[ModelRecord]:
        return self.registry.all()

    def model(self, model_id: str) -> ModelRecord:
        record = self.registry.get(model_id)
        if record is None:
            raise ModelNotFoundError(model_id)
        return record

    def live_model_id(self) -> str | None:
        live = self.registry.live()
        if live is None:
            return None
        return live.model_id if live.model_id is not None else self.sync.configured_id

    def weights(self, model_id: str) -> bytes:
        """The model's safetensors bytes, checked against its registered sha256 (ArtifactError if they differ)."""
        return self.backend.artifacts.weights(self.model(model_id))

    def activate(self, model_id: str) -> ModelRecord:
        """Serve a registered model: load it here first, record the activation, swap, wait for every process.

        Raises ModelNotFoundError, or ArtifactError if it cannot be loaded (nothing recorded then).
        """
        record = self.model(model_id)
        self.sync.activate(model_id)
        lagging = self.sync.wait_until_served(10.0, self.stopping)
        if lagging:
            log.warning("model %s: processes %s do not serve it yet", model_id, lagging)
        log.info("model %s activated (activation %d)", model_id, self.sync.served)
        return record

    def delete_model(self, model_id: str) -> ModelRecord:
        """Remove a model that is not live (ModelLiveError otherwise), with its weights."""
        record = self.registry.delete(model_id)
        if record.source == "job" and record.location is not None:
            remove_artifact(Path(record.location))
        return record

    def prune(self) -> None:
        """Retention: old finished jobs, and trained models that never served; never the live one."""
        if not self.leader:
            return
        try:
            jobs = self.store.prune(self.settings.keep_jobs, self.settings.keep_job_days)
            models = self.registry.prune(self.settings.keep_models, self.settings.keep_model_days)
        except Exception:
            log.exception("pruning old jobs and models failed; retrying after the next job")
            return
        for record in models:
            if record.location is not None and Path(record.location).parent == self.settings.resolved_models_dir:
                remove_artifact(Path(record.location))
        if jobs or models:
            log.info("retention: removed %d old jobs and %d unused models", len(jobs), len(models))

    def close(self) -> None:
        """Server shutdown: stop the running child, mark its job failed as interrupted, close the database."""
        if self._halt.is_set():
            return  # closed already
        self.stopping.set()
        self._unhook_signals()
        self._halt.set()
        if self._poller is not None:
            self._poller.join()
        self.slot.close()
        with contextlib.suppress(Exception):
            self.sync.leave()
        self.backend.close()  # another process may lead now
        if self._server_lock is not None:
            self._server_lock.close()

    def _try_lead(self) -> bool:
        """Take the trainer role if free; an embedded leader first fails what its dead predecessor was running."""
        lease = self.backend.lease
        if lease.held() or not lease.try_take():
            return lease.held()
        if self.backend.embedded:
            self.recover(claimed_only=True)
        log.info("%s", describe(lease))
        return True

    def _on_activation(self) -> None:
        try:
            self.sync.refresh()
        except Exception:
            log.exception("following an activation failed; polling will retry")

    def _poll(self) -> None:
        """Every process: follow activations, fail jobs whose trainer vanished; a trainer: find work, heartbeat."""
        next_election = time.monotonic() + ELECTION_SECONDS
        next_beat = 0.0
        while not self._halt.wait(self.settings.poll_seconds):
            try:
                if not self.leader and time.monotonic() >= next_election and not self.stopping.is_set():
                    next_election = time.monotonic() + ELECTION_SECONDS
                    self._try_lead()
                self.sync.refresh()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.settings.heartbeat_seconds
                    self.sync.note()
                    self.slot.heartbeat()
                    for record in self.store.expire_leases(self.settings.trainer_lease_seconds):
                        log.warning("job %s: its trainer's lease expired; marked %s", record.id, record.status)
                if self.leader:
                    for job_id in self.store.cancel_requests():  # recorded by other processes
                        with contextlib.suppress(JobFinishedError):
                            self.slot.cancel(job_id)
                    self.slot.start_next()
            except Exception:
                log.exception("polling the job database failed; retrying")

    def _cancel_through_store(self, job_id: str) -> JobRecord:
        """Record the request for the trainer to carry out, and wait (CANCEL_WAIT at most) for the job to end."""
        status = self.get(job_id).status
        if status.finished or not self.store.request_cancel(job_id):
            raise JobFinishedError(self.get(job_id).status)
        deadline = time.monotonic() + CANCEL_WAIT
        while True:
            record = self.get(job_id)
            if record.status == JobStatus.CANCELLED:
                return record
            if record.status.finished:
                raise JobFinishedError(record.status)  # it ended otherwise before the trainer got to it
            if time.monotonic() >= deadline:
                return record
            time.sleep(0.05)
