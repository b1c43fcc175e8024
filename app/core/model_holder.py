"""The served model, behind one reference that a swap replaces atomically."""

from __future__ import annotations

import threading
from pathlib import Path

from training.artifacts import LoadedModel, load_artifact
from training.optimize import for_serving


class ModelHolder:
    """Requests read `current` once and keep that object, so a swap never changes a request mid-way."""

    def __init__(self, int8: bool = False) -> None:
        self._current: LoadedModel | None = None
        self._lock = threading.Lock()
        self._int8 = int8  # DIGITS_INT8: answer with a model's int8 form where it has one

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def swap(self, loaded: LoadedModel) -> LoadedModel | None:
        """Install a new model in its serving form; returns the one it replaced."""
        return self._install(for_serving(loaded, self._int8))

    def load(self, path: Path) -> LoadedModel:
        """Load an artifact fully, then swap it in: a bad file leaves the current model serving.

        Returns the model as served (its serving form).
        """
        serving = for_serving(load_artifact(path), self._int8)
        self._install(serving)
        return serving

    def _install(self, serving: LoadedModel) -> LoadedModel | None:
        # Every served model passes here (start-up, activations, trained jobs, the registry): the
        # loader has checked the as-trained network against its artifact, and training.optimize
        # derived the form that answers requests (BatchNorm folded, int8 if asked) in this process's memory only.
        with self._lock:
            previous, self._current = self._current, serving
        return previous
