"""Progress within an epoch: the training process writes it to a small file, the event streams read it.

A file in the state directory rather than the job database: it changes several times a second, is
worthless once the epoch ends, and every server process (not only the leader that runs the job) can
read it for its /train/{id}/events clients.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from app.core.config import Settings

# How often the training process rewrites the file: often enough for a smooth bar, cheap for training.
WRITE_EVERY_S = 0.5


def progress_path(settings: Settings, job_id: str) -> Path:
    return settings.state_dir / "progress" / f"{job_id}.json"


class ProgressWriter:
    """Batch callback for the training loop: writes {"epoch", "batch", "batches"} at most every WRITE_EVERY_S."""

    def __init__(self, path: Path) -> None:
        self.path, self.epoch, self.written_at = path, 1, 0.0
        path.parent.mkdir(parents=True, exist_ok=True)

    def epoch_ended(self, epoch: int) -> None:
        self.epoch = epoch + 1

    def __call__(self, batch: int, batches: int) -> None:
        now = time.monotonic()
        if now - self.written_at < WRITE_EVERY_S and batch != batches:
            return
        self.written_at = now
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps({"epoch": self.epoch, "batch": batch, "batches": batches}))
        os.replace(tmp, self.path)  # readers never see half a file

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def read_progress(path: Path) -> dict[str, Any] | None:
    try:
        progress = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return progress if isinstance(progress, dict) else None
