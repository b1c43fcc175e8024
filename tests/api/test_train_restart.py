"""Job records outlive the server: finished jobs keep their histories, interrupted ones become failed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.core.config import PROJECT_ROOT
from app.main import create_app
from bench.local import children_of, free_port, process_alive
from tests.api.train_helpers import (
    AUTH,
    DATA_DIR,
    LONG_JOB,
    OLD_MODEL,
    QUICK_JOB,
    TOKEN,
    finished,
    job_settings,
    wait_for,
    wait_gone,
)
from training.artifact_format import read_metadata


def test_finished_jobs_and_their_histories_survive_a_restart(tmp_path: Path) -> None:
    settings = job_settings(tmp_path / "state")
    with TestClient(create_app(settings)) as client:
        job_id = client.post("/train", json={**QUICK_JOB, "activate": False}, headers=AUTH).json()["id"]
        before = wait_for(client, job_id, finished)
        assert before["status"] == "succeeded", before["error"]

    with TestClient(create_app(settings)) as client:
        after = client.get(f"/train/{job_id}").json()
        listed = client.get("/train").json()["jobs"]

    assert after == before
    assert len(after["history"]) == 3
    assert [job["id"] for job in listed] == [job_id]


def test_shutting_down_stops_a_running_job_and_records_it_as_interrupted(tmp_path: Path) -> None:
    settings = job_settings(tmp_path / "state")
    with TestClient(create_app(settings)) as client:
        job_id = client.post("/train", json=LONG_JOB, headers=AUTH).json()["id"]
        wait_for(client, job_id, lambda job: job["current_epoch"] >= 1)
        pid = client.app.state.jobs.active_pid(job_id)  # type: ignore[attr-defined]
    assert pid is not None
    assert not process_alive(pid)

    with TestClient(create_app(settings)) as client:
        job = client.get(f"/train/{job_id}").json()
    assert job["status"] == "failed"
    assert "interrupted" in job["error"]
    assert job["current_epoch"] >= 1


@contextmanager
def live_server(state: Path, log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client]]:
    """uvicorn serving the app over STATE on a free loopback port, as `make serve` runs it."""
    port = free_port()
    env = {
        **os.environ,
        "DIGITS_MODEL": str(OLD_MODEL),
        "DIGITS_DATA_DIR": str(DATA_DIR),
        "DIGITS_STATE_DIR": str(state),
        "DIGITS_ADMIN_TOKEN": TOKEN,
    }
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            yield server, http
    finally:
        server.kill()
        server.wait()


def start_long_job(http: httpx.Client, log_path: Path) -> str:
    """Start LONG_JOB and return its id once its first epoch is recorded."""
    job_id: str = http.post("/train", json=LONG_JOB, headers=AUTH).json()["id"]
    deadline = time.monotonic() + 90
    while http.get(f"/train/{job_id}").json()["current_epoch"] < 1:
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.1)
    return job_id


def restarted_job(state: Path, job_id: str) -> dict[str, Any]:
    """The job as a fresh app over STATE reports it, checking the old model is still the one served."""
    with TestClient(create_app(job_settings(state))) as client:
        job: dict[str, Any] = client.get(f"/train/{job_id}").json()
        assert client.get("/model").json()["id"] == read_metadata(OLD_MODEL)["id"]
    models_dir = state / "models"
    assert not models_dir.exists() or list(models_dir.iterdir()) == []
    return job


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the trainer through /proc")


@needs_proc
def test_a_job_running_when_the_server_is_killed_is_failed_after_restart(tmp_path: Path) -> None:
    state, log_path = tmp_path / "state", tmp_path / "server.log"
    with live_server(state, log_path) as (server, http):
        job_id = start_long_job(http, log_path)
        [trainer] = children_of(server.pid)
        server.send_signal(signal.SIGKILL)
        server.wait()

    # The orphaned trainer notices its server is gone and stops within a few seconds.
    assert wait_gone(trainer), f"training process {trainer} outlived its server"
    job = restarted_job(state, job_id)
    assert job["status"] == "failed"
    assert job["error"] == "interrupted: the server stopped while the job was running"
    assert job["current_epoch"] >= 1
    assert job["finished_at"] is not None


@needs_proc
def test_sigterm_ends_event_streams_so_the_server_stops_promptly(tmp_path: Path) -> None:
    state, log_path = tmp_path / "state", tmp_path / "server.log"
    lines: list[str] = []
    with live_server(state, log_path) as (server, http):
        job_id = start_long_job(http, log_path)
        [trainer] = children_of(server.pid)
        with http.stream("GET", f"/train/{job_id}/events", timeout=60) as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if line == "event: epoch" and lines.count(line) == 1:
                    server.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once its graceful shutdown is complete.
        assert server.wait(timeout=20) == -signal.SIGTERM
        assert "Application shutdown complete" in log_path.read_text()

    assert "event: shutdown" in lines
    assert wait_gone(trainer, timeout=1)  # the server stopped it before exiting
    job = restarted_job(state, job_id)
    assert job["status"] == "failed"
    assert "interrupted" in job["error"]
