"""The served model across the server's processes: the leader records each activation, every process follows.

`activations` is a log in the job database: each row a version (increasing), the model's id and its
artifact's path. A row without a path stands for DIGITS_MODEL: the first process of a server writes one,
so a server started afresh serves DIGITS_MODEL as before, while a process that joins a running server
(a worker restarted after a crash) serves what the others serve. Each process notes in `members` the
version it serves, so the leader can tell when a swap has reached every process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.core.model_holder import ModelHolder
from app.jobs.store import JobStore, now
from training.artifacts import ArtifactError

log = logging.getLogger("app.jobs")


@dataclass(frozen=True)
class Activation:
    version: int
    model_id: str | None
    path: Path | None  # None: the configured DIGITS_MODEL


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ModelSync:
    """This process's view of the activation log; `refresh` (polled) loads a newer activation if there is one."""

    def __init__(self, store: JobStore, holder: ModelHolder, configured: Path) -> None:
        self.store, self.holder, self.configured = store, holder, configured
        self.member = uuid.uuid4().hex
        self._served = 0
        self._failed: int | None = None  # a version that would not load: logged once, retried on each poll
        self._lock = threading.Lock()

    @property
    def served(self) -> int:
        """The activation version this process serves."""
        return self._served

    def latest(self) -> Activation | None:
        rows = self.store.query("SELECT version, model_id, path FROM activations ORDER BY version DESC LIMIT 1")
        if not rows:
            return None
        version, model_id, path = rows[0]
        return Activation(int(version), model_id, Path(path) if path is not None else None)

    def join(self, first: bool) -> None:
        """Register this process; the first of a server starts the log at DIGITS_MODEL, later ones catch up.

        The model holder already serves DIGITS_MODEL (the lifespan loaded it).
        """
        if first:
            self.store.write("DELETE FROM members")  # left by processes of a server that has stopped
            self._served = self._record(None, None)
        self._note()  # registered before catching up, so a leader activating meanwhile waits for this process
        latest = self.latest()
        if not first and latest is not None and latest.path is None:
            self._served = latest.version  # the server still serves DIGITS_MODEL: nothing to load
            self._note()
        self.refresh()

    def refresh(self) -> None:
        """Load the newest activation if this process does not serve it yet (on a worker thread, never the loop)."""
        latest = self.latest()
        if latest is None or latest.version <= self._served:
            return
        with self._lock:
            if latest.version <= self._served:
                return
            path = latest.path or self.configured
            try:
                loaded = self.holder.load(path)
            except (ArtifactError, OSError):
                if self._failed != latest.version:
                    log.exception("cannot load activated model %s; still serving the previous one", path)
                    self._failed = latest.version
                return
            self._served = latest.version
        log.info("process %d now serves model %s (activation %d)", os.getpid(), loaded.id, latest.version)
        self._note()

    def activate(self, path: Path) -> str:
        """Leader: load PATH here and record it for the other processes; returns the model id.

        Raises ArtifactError or OSError (and records nothing) if the artifact does not load.
        """
        with self._lock:
            loaded = self.holder.load(path)
            self._served = self._record(loaded.id, str(path.resolve()))
        self._note()
        return loaded.id

    def wait_until_served(self, timeout: float, stop: threading.Event) -> list[int]:
        """Wait until every live process serves this one's version; returns the pids still behind, if any."""
        deadline = time.monotonic() + timeout
        while True:
            lagging = []
            for member, pid, version in self.store.query("SELECT member, pid, version FROM members"):
                if member == self.member or version >= self._served:
                    continue
                if not _alive(pid):  # died without leaving: nobody to wait for
                    self.store.write("DELETE FROM members WHERE member = ?", (member,))
                    continue
                lagging.append(int(pid))
            if not lagging or stop.is_set() or time.monotonic() >= deadline:
                return lagging
            time.sleep(0.02)

    def leave(self) -> None:
        self.store.write("DELETE FROM members WHERE member = ?", (self.member,))

    def _record(self, model_id: str | None, path: str | None) -> int:
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO activations (model_id, path, recorded_at) VALUES (?, ?, ?)",
                (model_id, path, now().isoformat()),
            )
            version = cursor.lastrowid
        if version is None:
            raise RuntimeError("the activation log did not number its new row")
        return version

    def _note(self) -> None:
        self.store.write(
            "INSERT OR REPLACE INTO members (member, pid, version) VALUES (?, ?, ?)",
            (self.member, os.getpid(), self._served),
        )
