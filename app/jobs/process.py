"""The server's side of a training process: start `python -m app.jobs.runner`, read its messages, stop it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.jobs.runner import JobSpec

# The child imports `app.jobs.runner` from the same tree as this server, whatever its working directory.
SOURCE_ROOT = Path(__file__).resolve().parents[2]


class TrainingProcess:
    """One child process and the read end of its message pipe."""

    def __init__(self, popen: subprocess.Popen[bytes], read_fd: int) -> None:
        self._popen = popen
        self._channel = os.fdopen(read_fd, "r")

    @classmethod
    def start(cls, spec: JobSpec) -> TrainingProcess:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SOURCE_ROOT), os.getenv("PYTHONPATH")]))}
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "app.jobs.runner", str(write_fd), spec.to_json()],
                stdin=subprocess.DEVNULL,
                pass_fds=(write_fd,),
                env=env,
                start_new_session=True,  # a Ctrl+C in the server's terminal is the server's to handle, not the child's
            )
        except OSError:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the child holds the write end now: its exit is our end of file
        return cls(popen, read_fd)

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def messages(self) -> Iterator[dict[str, Any]]:
        """Each message as the child sends it, until the child exits (or closes the pipe)."""
        try:
            for line in self._channel:
                message: dict[str, Any] = json.loads(line)
                yield message
        finally:
            self._channel.close()

    def terminate(self) -> None:
        self._popen.terminate()

    def kill(self) -> None:
        self._popen.kill()

    def reap(self, grace: float) -> int:
        """Wait for the exit (killing it after GRACE seconds), so no zombie is left; returns the exit code."""
        try:
            return self._popen.wait(grace)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            return self._popen.wait()
