"""Local server processes, shared by the benchmarks and the live-server tests: free loopback ports
and the processes a server started."""

from __future__ import annotations

import os
import socket
import subprocess
from contextlib import suppress
from pathlib import Path


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """Ask a server to stop; kill it if it has not within GRACE seconds (and reap it either way)."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def process_alive(pid: int) -> bool:
    """True while PID runs; a zombie (exited, not yet reaped by whoever adopted it) counts as gone."""
    if not Path("/proc").is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def children_of(pid: int) -> set[int]:
    """Live children of PID, whichever of its threads started them."""
    found: set[int] = set()
    with suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(FileNotFoundError, ProcessLookupError):
                found |= {int(child) for child in (task / "children").read_text().split()}
    return {child for child in found if process_alive(child)}


def descendants(pid: int) -> list[int]:
    """PID first, then every live process below it (uvicorn's workers are children of its supervisor)."""
    found, frontier = [pid], [pid]
    while frontier:
        kids = sorted(children_of(frontier.pop()))
        found += kids
        frontier += kids
    return found
