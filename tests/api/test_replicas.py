"""Replicas over PostgreSQL: separate `python -m app` processes with separate state directories and no files
in common, one database. Models, activations and jobs reach every replica through the database alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.jobs.schemas import TrainCreate
from app.storage.jobs import SqlJobStore
from bench.local import children_of
from tests.api.train_helpers import AUTH, LONG_JOB, OLD_MODEL, QUICK_JOB, TOKEN, digit_png, wait_gone
from tests.backends import opened, postgres_url
from tests.live import LiveServer, live_server
from training.artifact_format import read_metadata

OLD_ID = read_metadata(OLD_MODEL)["id"]
LEASE_SECONDS = 3.0
FINISHED = {"succeeded", "failed", "cancelled"}


def replica_env(url: str, state: Path, trainer: bool) -> dict[str, str]:
    return {
        "DIGITS_DATABASE_URL": url,
        "DIGITS_STATE_DIR": str(state),
        "DIGITS_MODEL": str(OLD_MODEL),
        "DIGITS_ADMIN_TOKEN": TOKEN,
        "DIGITS_TRAINER": "1" if trainer else "0",
        "DIGITS_ACTIVATION_TOLERANCE": "100",  # a 1,000-image model may replace the committed one
        "DIGITS_HEARTBEAT_SECONDS": "0.5",
        "DIGITS_TRAINER_LEASE_SECONDS": str(LEASE_SECONDS),
        "DIGITS_INFERENCE_WORKERS": "1",
    }


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_url() as url:
        yield url


@contextmanager
def replica(
    tmp_path: Path, url: str, name: str, trainer: bool = True, extra: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """A replica on its own state directory (and its own log), as on a machine of its own."""
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    with live_server(home, {**replica_env(url, home / "state", trainer), **(extra or {})}) as server:
        yield server


def served(server: LiveServer) -> str:
    model_id: str = httpx.get(f"{server.url}/model", timeout=10).json()["id"]
    return model_id


def job(server: LiveServer, job_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{server.url}/train/{job_id}", timeout=10).json()
    return answer


def until(what: str, check: Any, timeout: float, server: LiveServer) -> float:
    """Poll CHECK until true; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"timed out waiting until {what}:\n{server.log_text()[-3000:]}"
        time.sleep(0.02)
    return time.monotonic() - start


class Predictions:
    """Clients predicting on every replica throughout, noting each status."""

    def __init__(self, servers: list[LiveServer]) -> None:
        self.statuses: list[int] = []
        self.models: set[str] = set()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._fire, args=(server,)) for server in servers]

    def _fire(self, server: LiveServer) -> None:
        image = digit_png()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not self._stop.is_set():
                response = http.post("/predict", files={"file": ("seven.png", image, "image/png")})
                self.statuses.append(response.status_code)
                if response.status_code == 200:
                    self.models.add(response.json()["model"])

    def __enter__(self) -> Predictions:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def test_a_model_trained_on_one_replica_serves_on_the_other_and_activations_go_both_ways(
    tmp_path: Path, database: str
) -> None:
    # Polling every 5 s: only LISTEN/NOTIFY can carry an activation across within the second.
    slow = {"DIGITS_POLL_SECONDS": "5", "DIGITS_HEARTBEAT_SECONDS": "5", "DIGITS_TRAINER_LEASE_SECONDS": "30"}
    with (
        replica(tmp_path, database, "trainer", extra=slow) as first,
        replica(tmp_path, database, "server", trainer=False, extra=slow) as second,
        Predictions([first, second]) as predictions,
    ):
        assert served(first) == served(second) == OLD_ID
        started = httpx.post(f"{first.url}/train", json={**QUICK_JOB, "epochs": 1}, headers=AUTH, timeout=30)
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        until("the job ends", lambda: job(first, job_id)["status"] in FINISHED, 120, first)
        done = job(second, job_id)  # the other replica reads the same record
        assert done["status"] == "succeeded", done["error"]
        new_id = done["model_id"]
        assert until("the trainer serves it", lambda: served(first) == new_id, 1.0, first) < 1.0
        assert until("the other replica serves it", lambda: served(second) == new_id, 1.0, second) < 1.0

        # Roll back on the second replica: the first follows within a second.
        sent = time.monotonic()
        response = httpx.post(f"{second.url}/models/{OLD_ID}/activate", headers=AUTH, timeout=30)
        assert response.status_code == 200, response.text
        assert served(second) == OLD_ID
        until("the first replica follows", lambda: served(first) == OLD_ID, 1.0, first)
        assert time.monotonic() - sent < 1.5  # request, load, record, notify, load on the other side
        listed = httpx.get(f"{first.url}/models", timeout=10).json()
        assert [model["id"] for model in listed if model["live"]] == [OLD_ID]
        assert new_id in {model["id"] for model in listed}
        # The weights are in the database: the replica that never trained can hand them out.
        weights = httpx.get(f"{second.url}/models/{new_id}/weights", params={"part": "safetensors"}, timeout=10)
        assert weights.status_code == 200
        assert len(weights.content) == next(model["size"] for model in listed if model["id"] == new_id)
        time.sleep(0.3)
    assert predictions.statuses
    assert set(predictions.statuses) == {200}
    assert predictions.models == {OLD_ID, new_id}


def first_progress(server: LiveServer, job_id: str) -> dict[str, Any]:
    """The first `progress` event of the job's event stream on SERVER."""
    event, deadline = "", time.monotonic() + 60
    with httpx.stream("GET", f"{server.url}/train/{job_id}/events", timeout=30) as response:
        for line in response.iter_lines():
            assert time.monotonic() < deadline, "no progress event within a minute"
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "progress":
                progress: dict[str, Any] = json.loads(line.removeprefix("data: "))
                return progress
    raise AssertionError(f"the stream ended without a progress event:\n{server.log_text()[-3000:]}")


def trainer_of(servers: list[LiveServer]) -> LiveServer:
    """The replica whose process has a training child."""
    [busy] = [server for server in servers if children_of(server.process.pid)]
    return busy


def test_a_killed_trainer_s_job_is_failed_by_the_other_after_the_lease_and_a_restart_keeps_everything(
    tmp_path: Path, database: str
) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(replica(tmp_path, database, "one"))
        second = stack.enter_context(replica(tmp_path, database, "two"))
        servers = [first, second]
        warmup = httpx.post(f"{first.url}/train", json={**QUICK_JOB, "epochs": 1}, headers=AUTH, timeout=30).json()
        until("the first job ends", lambda: job(first, warmup["id"])["status"] in FINISHED, 120, first)
        live_id = served(first)
        assert job(first, warmup["id"])["model_id"] == live_id

        long_id = httpx.post(f"{first.url}/train", json=LONG_JOB, headers=AUTH, timeout=30).json()["id"]
        until("a trainer runs it", lambda: job(first, long_id)["status"] == "running", 120, first)
        victim = trainer_of(servers)
        survivor = second if victim is first else first
        # The other replica has no progress file of the job (its own state directory): it sends the
        # progress the trainer's heartbeats record.
        progress = first_progress(survivor, long_id)
        assert progress["epoch"] >= 1
        assert 1 <= progress["batch"] <= progress["batches"]
        assert progress["total_epochs"] == LONG_JOB["epochs"]
        assert not (survivor.state / "progress" / f"{long_id}.json").exists()
        [child] = children_of(victim.process.pid)
        killed = time.monotonic()
        os.killpg(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        assert wait_gone(child, timeout=10)  # its training process stops with it

        until("the survivor fails the job", lambda: job(survivor, long_id)["status"] in FINISHED, 30, survivor)
        assert time.monotonic() - killed >= LEASE_SECONDS - 0.5  # not before the lease ran out
        failed = job(survivor, long_id)
        assert failed["status"] == "failed"
        assert "interrupted" in failed["error"]
        assert served(survivor) == live_id  # unchanged

        again = httpx.post(f"{survivor.url}/train", json={**QUICK_JOB, "epochs": 1}, headers=AUTH, timeout=30)
        assert again.status_code == 202, again.text
        until("the new job ends", lambda: job(survivor, again.json()["id"])["status"] in FINISHED, 120, survivor)
        assert job(survivor, again.json()["id"])["status"] == "succeeded"
        live_id = served(survivor)
        history = httpx.get(f"{survivor.url}/train", timeout=10).json()["jobs"]
    assert len(history) == 3

    # Restart everything, on fresh state directories: the database alone holds the state.
    with replica(tmp_path, database, "three") as first, replica(tmp_path, database, "four") as second:
        for server in (first, second):
            assert served(server) == live_id
            assert httpx.get(f"{server.url}/train", timeout=10).json()["jobs"] == history


CLAIMER = """
import json, sys, time
from app.storage.database import Database
from app.storage.jobs import SqlJobStore
from app.jobs.schemas import JobStatus
store = SqlJobStore(Database.open(sys.argv[1]))
name, ran = sys.argv[2], []
print("ready", flush=True)
sys.stdin.readline()
while (record := store.claim_next(name)) is not None:
    store.mark_running(record.id)
    ran.append(record.id)
    time.sleep(0.005)
    assert store.finish(record.id, JobStatus.SUCCEEDED, test_accuracy=0.5), record.id
print(json.dumps(ran), flush=True)
"""


def test_two_trainers_racing_for_fifty_queued_jobs_run_each_exactly_once(database: str) -> None:
    """Two trainer processes claim through the same code path as the server's slot (FOR UPDATE SKIP LOCKED)."""
    with opened(database) as db:
        store = SqlJobStore(db)
        request = TrainCreate(**QUICK_JOB).resolve()
        expected = [f"job-{index:02}" for index in range(50)]
        for job_id in expected:
            store.create(job_id, request, f"mlp-{job_id}")
        claimers = [
            subprocess.Popen(
                [sys.executable, "-c", CLAIMER, database, name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=Path(__file__).resolve().parents[2],
            )
            for name in ("one", "two")
        ]
        for claimer in claimers:
            assert claimer.stdout is not None
            assert claimer.stdout.readline().strip() == "ready"
        for claimer in claimers:  # released together
            assert claimer.stdin is not None
            claimer.stdin.write("go\n")
            claimer.stdin.flush()
        runs = []
        for claimer in claimers:
            out, _ = claimer.communicate(timeout=120)
            assert claimer.returncode == 0
            runs.append(json.loads(out.strip().splitlines()[-1]))
        assert sorted(runs[0] + runs[1]) == expected  # every job once, none twice
        assert all(runs)  # both trainers took part
        assert all(record.status == "succeeded" for record in store.recent(100))
