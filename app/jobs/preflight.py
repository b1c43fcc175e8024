"""Before a job starts: can its outcome be written? A full or read-only disk fails the job at once, by name."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from app.core.config import Settings


class NoRoomError(Exception):
    """A directory a job writes to is not writable or lacks free space; the message names which and why."""


def directories(settings: Settings) -> list[Path]:
    """The models directory, plus the state directory where the embedded database lives."""
    dirs = [settings.resolved_models_dir]
    if settings.embedded:
        dirs.insert(0, settings.state_dir)
    return dirs


def check_room(settings: Settings) -> None:
    """Raise NoRoomError unless every directory a job writes to is writable and has MIN_FREE_BYTES free."""
    for directory in directories(settings):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory) as probe:
                probe.write(b"x")
                probe.flush()
                os.fsync(probe.fileno())
        except OSError as exc:
            raise NoRoomError(f"cannot write to {directory}: {exc.strerror or exc}") from exc
        free = shutil.disk_usage(directory).free
        if free < settings.min_free_bytes:
            raise NoRoomError(
                f"{directory} has {free // 2**20} MiB free; a training job needs at least "
                f"{settings.min_free_bytes // 2**20} MiB (DIGITS_MIN_FREE_BYTES)"
            )
