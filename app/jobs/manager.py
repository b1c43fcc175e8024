"""Job control for one server process among possibly several sharing a state directory.

One process, the leader (the holder of STATE_DIR/leader.lock), runs the training slot. Every process
records new jobs and cancel requests in the job database, where the leader's polling thread picks them
up, and follows the leader's model activations. If the leader dies, another process takes its lock
within about a second and fails the jobs the dead one was running; jobs nobody had started still run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable

from app.core.config import Settings
from app.core.model_holder import ModelHolder
from app.jobs.activations import ModelSync
from app.jobs.auth import resolve_admin_token
from app.jobs.errors import JobConflictError, JobFinishedError, JobNotFoundError
from app.jobs.locks import FileLock, join_server, try_lead
from app.jobs.schemas import JobStatus, TrainRequest
from app.jobs.signals import on_stop_signal
from app.jobs.slot import TrainingSlot, remove_artifact
from app.jobs.store import JobRecord, JobStore, now
from training.run import new_model_id

log = logging.getLogger("app.jobs")

DATABASE = "jobs.sqlite3"
POLL_SECONDS = 0.2  # how often each process looks for new jobs, cancel requests and model activations
ELECTION_SECONDS = 1.0  # how often a follower tries to take the leader's lock
CANCEL_WAIT = 10.0  # seconds a DELETE on a follower waits for the leader to stop the job
ORPHAN_GRACE = 3.0  # a dead leader's training process notices within a second and exits (app/jobs/runner.py)


class JobManager:
    """Submits and cancels jobs from any process; runs them if this process leads."""

    def __init__(self, store: JobStore, settings: Settings, sync: ModelSync, admin_token: str) -> None:
        self.store, self.settings, self.sync, self.admin_token = store, settings, sync, admin_token
        self.stopping = threading.Event()  # set when the server is asked to stop: event streams end
        self.slot = TrainingSlot(store, settings, sync, self.stopping)
        self._unhook_signals: Callable[[], None] = lambda: None
        self._server_lock: FileLock | None = None
        self._leader_lock: FileLock | None = None
        self._halt = threading.Event()
        self._poller: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings, holder: ModelHolder) -> JobManager:
        """Join the server's processes over the state directory, and lead them if no other process does.

        The first process of a server (the others wait for it here) fails the jobs a dead server left
        queued or running, generates the admin token if none is configured, and serves DIGITS_MODEL;
        a process joining a running server reads the token and serves what the others serve.
        """
        server_lock, first = join_server(settings.state_dir)
        try:
            store = JobStore(settings.state_dir / DATABASE)
            token = resolve_admin_token(settings, first)
            manager = cls(store, settings, ModelSync(store, holder, settings.model), token)
            if first:
                manager.recover(claimed_only=False)
            manager.sync.join(first)
            server_lock.shared()  # set up: processes waiting to join may go on
        except BaseException:
            server_lock.close()
            raise
        manager._server_lock = server_lock
        if not manager._try_lead():
            log.info("process %d follows: the process holding leader.lock runs training jobs", os.getpid())
        manager._unhook_signals = on_stop_signal(manager.stopping)
        manager._poller = threading.Thread(target=manager._poll, name="jobs-poll", daemon=True)
        manager._poller.start()
        return manager

    @property
    def leader(self) -> bool:
        """Whether this process runs the training jobs."""
        return self._leader_lock is not None

    def recover(self, claimed_only: bool) -> list[JobRecord]:
        """Fail jobs left queued or running by a dead server (CLAIMED_ONLY: by a dead leader); remove their files."""
        stale = self.store.mark_interrupted(claimed_only=claimed_only)
        for record in stale:
            weights = self.slot.artifact_path(record.model_id)
            remove_artifact(weights)
            if claimed_only:  # its training process may still be writing for a moment
                later = threading.Timer(ORPHAN_GRACE, remove_artifact, args=(weights,))
                later.daemon = True
                later.start()
            log.warning("job %s was interrupted by a server stop; marked failed", record.id)
        return stale

    def submit(self, request: TrainRequest) -> JobRecord:
        """Record the job (the leader starts its process at once), or raise JobConflictError if the slot is taken."""
        if self.slot.closed:
            raise RuntimeError("job manager is shut down")
        job_id = uuid.uuid4().hex
        running = self.store.create_exclusive(job_id, request, new_model_id(request.arch, now()))
        if running is not None:
            raise JobConflictError(running)
        if self.leader:
            self.slot.start_next()
        return self._get(job_id)

    def active_pid(self, job_id: str) -> int | None:
        """The pid of the job's training process, if this process runs it."""
        return self.slot.active_pid(job_id)

    def cancel(self, job_id: str) -> JobRecord:
        """Stop a queued or running job's process (SIGTERM, then SIGKILL) and return it, now cancelled.

        On a follower the leader does it: the returned job is still unfinished if it did not within CANCEL_WAIT.
        """
        if self.leader:
            record = self.slot.cancel(job_id)
            if record is not None:
                return record
        return self._cancel_through_store(job_id)

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
        self.sync.leave()
        self.store.close()
        for lock in (self._leader_lock, self._server_lock):
            if lock is not None:
                lock.close()  # another process may lead now

    def _get(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record is None:
            raise JobNotFoundError(job_id)
        return record

    def _try_lead(self) -> bool:
        """Take the leader's lock if it is free; a new leader first fails what its dead predecessor was running."""
        lock = try_lead(self.settings.state_dir)
        if lock is None:
            return False
        self.recover(claimed_only=True)
        self._leader_lock = lock
        log.info("process %d leads: it runs the training jobs", os.getpid())
        return True

    def _poll(self) -> None:
        """Every process: follow model activations, and try to lead now and then; the leader: find work."""
        next_election = time.monotonic() + ELECTION_SECONDS
        while not self._halt.wait(POLL_SECONDS):
            try:
                if not self.leader and time.monotonic() >= next_election and not self.stopping.is_set():
                    next_election = time.monotonic() + ELECTION_SECONDS
                    self._try_lead()
                self.sync.refresh()
                if self.leader:
                    for job_id in self.store.cancel_requests():  # recorded by other processes
                        with contextlib.suppress(JobFinishedError):
                            self.slot.cancel(job_id)
                    self.slot.start_next()
            except Exception:
                log.exception("polling the job database failed; retrying")

    def _cancel_through_store(self, job_id: str) -> JobRecord:
        """Record the request for the leader to carry out, and wait (CANCEL_WAIT at most) for the job to end."""
        status = self._get(job_id).status
        if status.finished or not self.store.request_cancel(job_id):
            raise JobFinishedError(self._get(job_id).status)
        deadline = time.monotonic() + CANCEL_WAIT
        while True:
            record = self._get(job_id)
            if record.status == JobStatus.CANCELLED:
                return record
            if record.status.finished:
                raise JobFinishedError(record.status)  # it ended otherwise before the leader got to it
            if time.monotonic() >= deadline:
                return record
            time.sleep(0.05)
