"""A real `python -m app` server process on a free loopback port, for tests that need one
(browsers, raw sockets, restarts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.core.config import PROJECT_ROOT
from bench.local import free_port

DATA_DIR = (PROJECT_ROOT.parent / "shared" / "data" / "mnist").resolve()


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    url: str
    state: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the server was not ready within {timeout} s:\n{log.read_text()[-4000:]}")


@contextmanager
def live_server(tmp_path: Path, env: Mapping[str, str] | None = None, timeout: float = 90) -> Iterator[LiveServer]:
    """Start `python -m app` with DIGITS_* from ENV (state under TMP_PATH unless given); stop it after."""
    port = free_port()
    state = Path(env.get("DIGITS_STATE_DIR", tmp_path / "state")) if env else tmp_path / "state"
    log_path = tmp_path / f"server-{port}.log"
    full_env = {
        **os.environ,
        "DIGITS_HOST": "127.0.0.1",
        "DIGITS_PORT": str(port),
        "DIGITS_DATA_DIR": str(DATA_DIR),
        "DIGITS_STATE_DIR": str(state),
        **(env or {}),
    }
    with log_path.open("wb") as log:
        # A session of its own, so that a failing test can still stop every process it started.
        process = subprocess.Popen(
            [sys.executable, "-m", "app"],
            cwd=PROJECT_ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path, timeout)
        yield LiveServer(process, url, state, log_path)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
