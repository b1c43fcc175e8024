"""The served model across the server's processes: an activation is recorded first, then every process follows.

The live model is the newest row of the activation log (registry). Each process polls it (and, on
PostgreSQL, hears of a new one at once through LISTEN/NOTIFY), loads the model from the artifact store
and notes in `members` the version it serves, so a trainer can tell when a swap has reached everyone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from pathlib import Path

from app.core.model_holder import ModelHolder
from app.jobs.ports import Activation, ArtifactStore, Registry
from training.artifact_format import ArtifactError
from training.runtime import ServedModel

log = logging.getLogger("app.jobs")


class ModelSync:
    """This process's view of the live model; `refresh` loads a newer activation if there is one."""

    def __init__(
        self,
        registry: Registry,
        artifacts: ArtifactStore,
        holder: ModelHolder,
        configured: Path,
        configured_id: str,
        member_stale_seconds: float,
    ) -> None:
        self.registry, self.artifacts, self.holder = registry, artifacts, holder
        self.configured, self.configured_id = configured, configured_id
        self.member_stale_seconds = member_stale_seconds
        self.member = uuid.uuid4().hex
        self._served = 0
        self._failed: int | None = None  # a version that would not load: logged once, retried on each poll
        self._lock = threading.Lock()

    @property
    def served(self) -> int:
        """The activation version this process serves."""
        return self._served

    def latest(self) -> Activation | None:
        return self.registry.live()

    def join(self, fresh_server: bool) -> None:
        """Register this process and serve the live model; a fresh state starts with DIGITS_MODEL.

        The holder already serves DIGITS_MODEL (the lifespan loaded it). If the live model cannot be
        loaded, one log line says so and DIGITS_MODEL goes on serving; the first process of an embedded
        server also records that, so every process and GET /models agree.
        """
        if fresh_server:
            self.registry.clear_members()  # left by processes of a server that has stopped
        latest = self.latest()
        # A fresh state starts with DIGITS_MODEL; so does a server whose live model will not load.
        if latest is None or (not self._load(latest, startup=True) and fresh_server):
            self._served = self.registry.activate(self.configured_id)
        self.note()

    def refresh(self) -> None:
        """Load the newest activation if this process does not serve it yet (on a worker thread, never the loop)."""
        latest = self.latest()
        if latest is not None and latest.version > self._served and self._load(latest, startup=False):
            self.note()

    def _load(self, activation: Activation, startup: bool) -> bool:
        with self._lock:
            if activation.version <= self._served:
                return True
            current = self.holder.current
            try:
                if activation.model_id is None or activation.model_id == self.configured_id:
                    if current is None or current.id != self.configured_id:
                        self.holder.load(self.configured)
                elif current is None or current.id != activation.model_id:
                    self.holder.swap(self._fetch(activation.model_id))
            except (ArtifactError, OSError) as exc:
                if startup:
                    log.error(
                        "cannot load the live model %s (%s); serving DIGITS_MODEL %s instead",
                        activation.model_id,
                        exc,
                        self.configured,
                    )
                elif self._failed != activation.version:
                    log.error(
                        "cannot load activated model %s (%s); still serving the previous one", activation.model_id, exc
                    )
                self._failed = activation.version
                return False
            self._served = activation.version
        served = self.holder.current
        log.info(
            "process %d now serves model %s (activation %d)",
            os.getpid(),
            served.id if served else None,
            activation.version,
        )
        return True

    def _fetch(self, model_id: str) -> ServedModel:
        record = self.registry.get(model_id)
        if record is None:
            raise ArtifactError(f"model {model_id} is not in the registry")
        return self.artifacts.load(record)

    def activate(self, model_id: str) -> ServedModel:
        """Serve a registered model everywhere: load it here, record the activation, then swap it in here.

        Raises ArtifactError (recording nothing) if it cannot be loaded; others follow the record.
        """
        loaded = self._fetch(model_id)
        self.install(loaded, self.registry.activate(model_id))
        return loaded

    def install(self, loaded: ServedModel, version: int) -> None:
        """Serve LOADED here, as activation VERSION, which the caller has recorded already."""
        with self._lock:
            if version > self._served:
                self.holder.swap(loaded)
                self._served = version
        self.note()

    def wait_until_served(self, timeout: float, stop: threading.Event) -> list[str]:
        """Wait until every live process serves this one's version; returns those still behind, if any."""
        deadline = time.monotonic() + timeout
        while True:
            lagging = self.registry.lagging_members(self.member, self._served, self.member_stale_seconds)
            if not lagging or stop.is_set() or time.monotonic() >= deadline:
                return lagging
            time.sleep(0.02)

    def note(self) -> None:
        self.registry.note_member(self.member, self._served)

    def leave(self) -> None:
        self.registry.leave(self.member)
