"""The served model, behind one reference that a swap replaces atomically."""

from __future__ import annotations

import threading
from pathlib import Path

from training.artifacts import LoadedModel, load_artifact


class ModelHolder:
    """Requests read `current` once and keep that object, so a swap never changes a request mid-way."""

    def __init__(self) -> None:
        self._current: LoadedModel | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def swap(self, loaded: LoadedModel) -> LoadedModel | None:
        """Install a new model; returns the one it replaced."""
        with self._lock:
            previous, self._current = self._current, loaded
        return previous

    def load(self, path: Path) -> LoadedModel:
        """Load an artifact fully, then swap it in: a bad file leaves the current model serving."""
        loaded = load_artifact(path)
        self.swap(loaded)
        return loaded
