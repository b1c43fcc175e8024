"""File locks that let the server's processes find each other through the state directory.

flock locks belong to an open file description, so they are released when the process that holds
them dies, however it dies, and two opens of one file (two apps in one test process) exclude each
other just as two processes do. Every process of a server holds `server.lock` shared for its life;
one of them also holds `leader.lock` exclusively and runs the training jobs.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

SERVER_LOCK = "server.lock"
LEADER_LOCK = "leader.lock"


class FileLock:
    """One open file description of PATH and the flock it holds, if any."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Opened without O_TRUNC: the leader's pid in leader.lock stays readable while others open it.
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def _flock(self, operation: int) -> bool:
        if self._fd is None:
            raise RuntimeError(f"lock {self.path} is closed")
        try:
            fcntl.flock(self._fd, operation)
        except BlockingIOError:
            return False
        return True

    def try_exclusive(self) -> bool:
        """Take the lock exclusively if nobody holds it; never waits."""
        return self._flock(fcntl.LOCK_EX | fcntl.LOCK_NB)

    def shared(self) -> None:
        """Take (or turn an exclusive hold into) a shared hold, waiting while someone holds it exclusively."""
        self._flock(fcntl.LOCK_SH)

    def write(self, text: str) -> None:
        """Replace the file's content (for people reading it: who holds the lock)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)

    def close(self) -> None:
        """Release the lock by closing the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def join_server(state_dir: Path) -> tuple[FileLock, bool]:
    """Hold STATE_DIR/server.lock for this process's life; True if no other process of the server is running.

    The first process holds the lock exclusively until the caller turns it into a shared hold, so
    processes that start meanwhile wait here until the first one has set the server up.
    """
    lock = FileLock(state_dir / SERVER_LOCK)
    first = lock.try_exclusive()
    if not first:
        lock.shared()
    return lock, first


def try_lead(state_dir: Path) -> FileLock | None:
    """Take STATE_DIR/leader.lock if no live process holds it; the holder writes its pid into it."""
    lock = FileLock(state_dir / LEADER_LOCK)
    if lock.try_exclusive():
        lock.write(f"{os.getpid()}\n")
        return lock
    lock.close()
    return None
