"""`python -m app` with DIGITS_WORKERS=2: two real server processes, one listening port, one training slot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import PROJECT_ROOT
from app.jobs.ports import LEADER_LOST
from bench.local import children_of, free_port, process_alive
from tests.api.train_helpers import AUTH, DATA_DIR, LONG_JOB, OLD_MODEL, TOKEN, finished, wait_gone

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")

SMALL_JOB: dict[str, Any] = {"arch": "mlp", "epochs": 1, "learning_rate": 1e-3, "train_limit": 1000}


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    http: httpx.Client  # no keep-alive: every request is a new connection, which either worker may accept
    state: Path
    log: Path

    def workers(self) -> set[int]:
        # Also among the supervisor's children: multiprocessing's resource tracker.
        return {pid for pid in children_of(self.process.pid) if b"spawn_main" in proc_cmdline(pid)}

    def leader(self) -> int:
        """The pid in leader.lock; 0 while a new leader is writing it."""
        text = (self.state / "leader.lock").read_text().strip()
        return int(text) if text else 0

    def until(self, what: str, check: Callable[[], bool], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting until {what}:\n{self.log.read_text()[-4000:]}"
            time.sleep(0.1)

    def answering_pids(self, path: str, expected: set[int], key: str = "pid") -> list[dict[str, Any]]:
        """GET PATH on new connections until each of EXPECTED has answered; returns every answer."""
        answers: list[dict[str, Any]] = []

        def all_answered() -> bool:
            response = self.http.get(path)
            assert response.status_code == 200, response.text
            answers.append(response.json())
            return expected <= {answer[key] for answer in answers}

        self.until(f"processes {expected} answer {path}", all_answered)  # a new worker may still be starting
        return answers

    def job(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.http.get(f"/train/{job_id}").json()
        return job


def proc_cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


@contextmanager
def two_workers(tmp_path: Path) -> Iterator[Server]:
    """`python -m app` with two workers on a free loopback port, up once both answer."""
    port, state, log_path = free_port(), tmp_path / "state", tmp_path / "server.log"
    env = {
        **os.environ,
        "DIGITS_WORKERS": "2",
        "DIGITS_HOST": "127.0.0.1",
        "DIGITS_PORT": str(port),
        "DIGITS_MODEL": str(OLD_MODEL),
        "DIGITS_DATA_DIR": str(DATA_DIR),
        "DIGITS_STATE_DIR": str(state),
        "DIGITS_ADMIN_TOKEN": TOKEN,
        "DIGITS_ACTIVATION_TOLERANCE": "100",  # a 1,000-image model may replace the committed one
    }
    with log_path.open("wb") as log:
        # A session of its own, so that a failing test can still stop every worker it started.
        process = subprocess.Popen(
            [sys.executable, "-m", "app"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    fresh = httpx.Limits(max_keepalive_connections=0)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, limits=fresh) as http:
            server = Server(process, http, state, log_path)
            server.until("two workers run", lambda: len(server.workers()) == 2)

            def ready() -> bool:
                try:
                    return http.get("/ready").status_code == 200
                except httpx.TransportError:
                    return False

            server.until("the server answers", ready)
            yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def stop(server: Server, workers: set[int]) -> None:
    """SIGTERM to the supervisor stops it and every worker (and with the leader, its training process)."""
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0, server.log.read_text()[-4000:]
    assert all(wait_gone(pid, timeout=5) for pid in workers), server.log.read_text()[-4000:]


def test_two_workers_one_leader_and_a_trained_model_served_by_both(tmp_path: Path) -> None:
    with two_workers(tmp_path) as server:
        workers = server.workers()
        assert {answer["pid"] for answer in server.answering_pids("/health", workers)} == workers
        assert server.leader() in workers

        job_id = server.http.post("/train", json=SMALL_JOB, headers=AUTH).json()["id"]
        server.until("the job ends", lambda: finished(server.job(job_id)))
        done = server.job(job_id)
        assert done["status"] == "succeeded", done["error"]
        assert len(done["history"]) == 1

        new_model = done["model_id"]
        assert {server.http.get("/model").json()["id"] for _ in range(40)} == {new_model}
        assert {answer["model"] for answer in server.answering_pids("/ready", workers)} == {new_model}
        stop(server, workers)
    assert (state_log := server.log.read_text()).count("leads: it runs the training jobs") == 1, state_log


def test_when_the_leader_dies_the_other_worker_takes_over_and_a_new_worker_joins(tmp_path: Path) -> None:
    with two_workers(tmp_path) as server:
        job_id = server.http.post("/train", json=SMALL_JOB, headers=AUTH).json()["id"]
        server.until("the job ends", lambda: finished(server.job(job_id)))
        trained = server.job(job_id)["model_id"]
        long_id = server.http.post("/train", json=LONG_JOB, headers=AUTH).json()["id"]
        server.until("the long job runs", lambda: server.job(long_id)["status"] == "running")
        old_leader = server.leader()
        [trainer] = children_of(old_leader)

        os.kill(old_leader, signal.SIGKILL)  # as the OOM killer would

        server.until("another worker leads", lambda: server.leader() != old_leader and process_alive(server.leader()))
        assert wait_gone(trainer), "the dead leader's training process outlived it"
        server.until("the long job is failed", lambda: finished(server.job(long_id)))
        failed = server.job(long_id)
        assert failed["status"] == "failed"
        assert failed["error"] == LEADER_LOST
        # uvicorn replaces the dead worker; the newcomer serves what the others serve, not DIGITS_MODEL.
        server.until("a new worker replaces the dead one", lambda: len(server.workers()) == 2)
        workers = server.workers()
        assert old_leader not in workers
        assert {answer["model"] for answer in server.answering_pids("/ready", workers)} == {trained}
        follow_up = server.http.post("/train", json=SMALL_JOB, headers=AUTH)
        assert follow_up.status_code == 202, follow_up.text
        server.until("the follow-up job ends", lambda: finished(server.job(follow_up.json()["id"])))
        assert server.job(follow_up.json()["id"])["status"] == "succeeded"
        stop(server, workers)
