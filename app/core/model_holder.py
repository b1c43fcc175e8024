"""The served model, behind one reference that a swap replaces atomically."""

from __future__ import annotations

import threading
from pathlib import Path

from training.runtime import ServedModel, load_served


class ModelHolder:
    """Requests read `current` once and keep that object, so a swap never changes a request mid-way."""

    def __init__(self, int8: bool = False) -> None:
        self._current: ServedModel | None = None
        self._lock = threading.Lock()
        self._int8 = int8  # DIGITS_INT8: answer with a model's int8 form where it has one

    @property
    def current(self) -> ServedModel | None:
        return self._current

    def swap(self, served: ServedModel) -> ServedModel | None:
        """Install a new model in its serving form; returns the one it replaced."""
        return self._install(self._serving_form(served))

    def load(self, path: Path) -> ServedModel:
        """Load an artifact fully, then swap it in: a bad file leaves the current model serving.

        Returns the model as served (its serving form).
        """
        serving = self._serving_form(load_served(path))
        self._install(serving)
        return serving

    def _serving_form(self, served: ServedModel) -> ServedModel:
        if not self._int8:
            return served
        # Imported on use: the int8 form runs on torch, which a float server never loads.
        from training.optimize import int8_served

        return int8_served(served)

    def _install(self, serving: ServedModel) -> ServedModel | None:
        # Every served model passes here (start-up, activations, trained jobs, the registry): the
        # loader has checked the weights against their artifact and built the network that answers
        # requests (training.runtime) in this process's memory only.
        with self._lock:
            previous, self._current = self._current, serving
        return previous
