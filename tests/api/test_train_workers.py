"""Several server processes over one state directory: one leader runs the jobs, every process serves the same model.

Two apps in this process stand for two server processes: their locks are separate open files, which
exclude each other as two processes' would.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic.warnings import UnsupportedFieldAttributeWarning

from app.jobs.auth import TOKEN_FILE
from app.jobs.locks import join_server
from app.jobs.manager import JobManager
from app.jobs.schemas import TrainCreate
from app.main import create_app
from app.storage.database import sqlite_url
from app.storage.jobs import SqlJobStore
from bench.local import process_alive
from tests.api.train_helpers import (
    AUTH,
    LONG_JOB,
    QUICK_JOB,
    digit_png,
    finished,
    job_settings,
    served_id,
    start,
    wait_for,
)
from tests.backends import opened_database


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """The first app started leads; the second follows."""
    settings = job_settings(tmp_path / "state")
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        yield first, second


def manager(client: TestClient) -> JobManager:
    app = client.app
    assert isinstance(app, FastAPI)
    jobs: JobManager = app.state.jobs
    return jobs


def running(job: dict[str, Any]) -> bool:
    return bool(job["status"] == "running")


def test_a_job_posted_to_the_follower_runs_on_the_leader_and_both_serve_its_model(
    pair: tuple[TestClient, TestClient], tmp_path: Path
) -> None:
    leader, follower = pair
    assert manager(leader).leader
    assert not manager(follower).leader
    assert (tmp_path / "state" / "leader.lock").read_text().strip() == str(os.getpid())
    old_model = served_id(follower)

    job = start(follower, QUICK_JOB)
    assert job["status"] == "queued"
    epochs: list[int] = []
    ran_on_leader = False

    def watch(state: dict[str, Any]) -> bool:
        nonlocal ran_on_leader
        assert manager(follower).active_pid(job["id"]) is None  # the follower never starts a training process
        ran_on_leader = ran_on_leader or manager(leader).active_pid(job["id"]) is not None
        epochs.append(state["current_epoch"])
        return finished(state)

    done = wait_for(follower, job["id"], watch)

    assert done["status"] == "succeeded", done["error"]
    assert ran_on_leader
    assert epochs == sorted(epochs)
    assert [entry["epoch"] for entry in done["history"]] == [1, 2, 3]
    assert leader.get(f"/train/{job['id']}").json() == done
    new_model = done["model_id"]
    assert new_model != old_model
    # The job reads succeeded only once every process serves its model.
    assert served_id(leader) == served_id(follower) == new_model
    prediction = follower.post("/predict", files={"file": ("seven.png", digit_png(), "image/png")})
    assert prediction.json()["model"] == new_model


def test_one_job_at_a_time_whichever_app_is_asked_and_the_follower_can_cancel(
    pair: tuple[TestClient, TestClient], tmp_path: Path
) -> None:
    leader, follower = pair
    first = start(leader, LONG_JOB)
    for client in (leader, follower):
        conflict = client.post("/train", json=QUICK_JOB, headers=AUTH)
        assert conflict.status_code == 409
        assert conflict.json()["running_job_id"] == first["id"]
    wait_for(follower, first["id"], running)
    pid = manager(leader).active_pid(first["id"])
    assert pid is not None
    assert process_alive(pid)

    response = follower.delete(f"/train/{first['id']}", headers=AUTH)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None
    assert not process_alive(pid)  # the leader stopped it before the follower answered
    again = follower.delete(f"/train/{first['id']}", headers=AUTH)
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]

    # The other way round: posted to the follower, refused by the leader, cancelled through the follower.
    second = start(follower, LONG_JOB)
    conflict = leader.post("/train", json=QUICK_JOB, headers=AUTH)
    assert conflict.status_code == 409
    assert conflict.json()["running_job_id"] == second["id"]
    wait_for(follower, second["id"], lambda job: manager(leader).active_pid(second["id"]) is not None)
    pid = manager(leader).active_pid(second["id"])
    assert pid is not None
    cancelled = follower.delete(f"/train/{second['id']}", headers=AUTH)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert not process_alive(pid)
    models_dir = tmp_path / "state" / "models"
    assert not models_dir.exists() or list(models_dir.iterdir()) == []


def test_simultaneous_posts_to_both_apps_start_exactly_one_job(pair: tuple[TestClient, TestClient]) -> None:
    clients = [*pair, *pair, *pair]
    gate = threading.Barrier(len(clients))
    answers: list[tuple[int, dict[str, Any]]] = []

    def post(client: TestClient) -> None:
        gate.wait()
        response = client.post("/train", json=LONG_JOB, headers=AUTH)
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(status for status, _ in answers) == [202] + [409] * (len(clients) - 1)
    [started] = [body["id"] for status, body in answers if status == 202]
    assert {body["running_job_id"] for status, body in answers if status == 409} == {started}
    assert [job["id"] for job in pair[1].get("/train").json()["jobs"]] == [started]
    assert pair[0].delete(f"/train/{started}", headers=AUTH).json()["status"] == "cancelled"


def test_a_generated_admin_token_is_one_for_all_processes(tmp_path: Path) -> None:
    settings = job_settings(tmp_path / "state", admin_token=None)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        token = (tmp_path / "state" / TOKEN_FILE).read_text().strip()
        for client in (first, second):
            # Accepted (the unknown job is then a 404), unlike any other token.
            assert client.delete("/train/none", headers={"Authorization": f"Bearer {token}"}).status_code == 404
            assert client.delete("/train/none", headers=AUTH).status_code == 401


def test_a_follower_leaves_the_running_job_alone_and_leads_when_the_leader_stops(tmp_path: Path) -> None:
    settings = job_settings(tmp_path / "state")
    with ExitStack() as leader_app:
        leader = leader_app.enter_context(TestClient(create_app(settings)))
        job = start(leader, LONG_JOB)
        wait_for(leader, job["id"], running)
        pid = manager(leader).active_pid(job["id"])
        assert pid is not None

        with TestClient(create_app(settings)) as follower:
            # Joining a running server is not a restart: the job goes on.
            assert not manager(follower).leader
            assert follower.get(f"/train/{job['id']}").json()["status"] == "running"
            assert process_alive(pid)

            leader_app.close()  # the leader's shutdown stops its job, as a one-process server's does

            interrupted = follower.get(f"/train/{job['id']}").json()
            assert interrupted["status"] == "failed"
            assert "interrupted" in interrupted["error"]
            assert not process_alive(pid)
            deadline = time.monotonic() + 15  # it tries every second
            while not manager(follower).leader:
                assert time.monotonic() < deadline, "the follower did not take over"
                time.sleep(0.05)
            assert (tmp_path / "state" / "leader.lock").read_text().strip() == str(os.getpid())
            done = wait_for(follower, start(follower, {**QUICK_JOB, "epochs": 1})["id"], finished)
            assert done["status"] == "succeeded", done["error"]
            assert served_id(follower) == done["model_id"]


def test_a_new_leader_fails_what_the_dead_one_ran_and_starts_what_it_had_not(tmp_path: Path) -> None:
    """As after a leader's crash: a claimed running job and a queued one nobody started yet.

    (One server never has both at once; seeding both checks each rule of the take-over in one start.)
    """
    state = tmp_path / "state"
    survivor, first = join_server(state)  # another process of the server, still alive
    assert first
    survivor.shared()
    database = opened_database(sqlite_url(state / "jobs.sqlite3"))
    store = SqlJobStore(database)
    request = TrainCreate(**{**QUICK_JOB, "epochs": 1}).resolve()
    store.create("crashed", request, "mlp-crashed")
    claimed = store.claim_next("dead-leader")
    assert claimed is not None
    store.mark_running("crashed")
    store.create("waiting", request, "mlp-waiting")
    partial = state / "models" / "mlp-crashed.safetensors"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half-written")
    database.close()
    try:
        with TestClient(create_app(job_settings(state))) as client:
            assert manager(client).leader
            crashed = client.get("/train/crashed").json()
            assert crashed["status"] == "failed"
            assert "interrupted" in crashed["error"]
            assert not partial.exists()
            waiting = wait_for(client, "waiting", finished)
            assert waiting["status"] == "succeeded", waiting["error"]
    finally:
        survivor.close()


def test_fastapi_s_own_alias_warning_is_not_turned_into_an_error() -> None:
    """FastAPI silences this warning with catch_warnings, which is not thread-safe: the two apps above,
    building their routes at once, can each restore the filters under the other (a 500 in CI once)."""
    warnings.warn("as if another thread had just restored the filters", UnsupportedFieldAttributeWarning, stacklevel=1)
