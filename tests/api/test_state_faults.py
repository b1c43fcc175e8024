"""State that cannot lie: a damaged job database, a state written by the first release, a full or read-only
disk, and a database write that fails as a job finishes."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from app.jobs import slot
from app.jobs.ports import LEASE_LOST, Outcome
from app.jobs.schemas import TrainCreate
from app.main import create_app
from app.storage.artifacts import record_for
from app.storage.database import sqlite_url
from app.storage.jobs import SqlJobStore
from tests.api.train_helpers import (
    AUTH,
    LONG_JOB,
    OLD_MODEL,
    QUICK_JOB,
    digit_png,
    finished,
    job_settings,
    served_id,
    start,
    wait_gone,
)
from tests.api.train_helpers import wait_for as wait_for_job
from tests.backends import opened
from tests.conftest import write_tiny_artifact
from training.artifact_format import read_metadata

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-state"
OLD_ID = read_metadata(OLD_MODEL)["id"]
ONE_EPOCH = {**QUICK_JOB, "epochs": 1}


def damage(path: Path, how: str) -> None:
    if how == "empty":
        path.write_bytes(b"")
    elif how == "header":
        path.write_bytes(path.read_bytes()[:50])
    else:  # a page in the middle overwritten: the header is fine, the b-tree is not
        data = bytearray(path.read_bytes())
        page = 4096
        data[page : 3 * page] = b"\xa5" * (2 * page)
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["empty", "header", "page"])
def test_a_damaged_job_database_keeps_predictions_up_and_says_why_everywhere_else(tmp_path: Path, how: str) -> None:
    state = tmp_path / "state"
    with TestClient(create_app(job_settings(state))) as client:
        wait_for_job(client, start(client, {**ONE_EPOCH, "activate": False})["id"], finished)
    database = state / "jobs.sqlite3"
    damage(database, how)
    damaged = database.read_bytes()

    with TestClient(create_app(job_settings(state))) as client:
        prediction = client.post("/predict", files={"file": ("seven.png", digit_png(), "image/png")})
        assert prediction.status_code == 200
        assert prediction.json()["model"] == OLD_ID
        ready = client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert "damaged" in ready.json()["degraded"]["jobs"]
        for method, path in (("GET", "/train"), ("POST", "/train"), ("GET", "/models"), ("GET", "/train/x")):
            response = client.request(method, path, json=QUICK_JOB, headers=AUTH)
            assert response.status_code == 503, (method, path, response.text)
            assert "jobs.sqlite3" in response.json()["detail"]
    assert database.read_bytes() == damaged  # nothing reset, nothing written: the operator decides


def test_a_state_written_by_the_first_release_opens_with_its_jobs_and_live_model(tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(LEGACY, state)
    with TestClient(create_app(job_settings(state))) as client:
        jobs = {job["id"]: job for job in client.get("/train").json()["jobs"]}
        assert set(jobs) == {"job-succeeded", "job-failed", "job-cancelled"}
        succeeded = jobs["job-succeeded"]
        assert (succeeded["status"], succeeded["activated"], succeeded["test_accuracy"]) == ("succeeded", True, 0.91)
        assert [epoch["epoch"] for epoch in succeeded["history"]] == [1, 2]
        assert succeeded["request"]["force_activate"] is False
        assert jobs["job-failed"]["error"] == "training failed with an internal error; see the server log"
        assert len(jobs["job-failed"]["history"]) == 1
        assert jobs["job-cancelled"]["status"] == "cancelled"
        # The release before the registry had activated the job's model last: it still serves.
        assert served_id(client) == "tiny-mlp-7"
        entry = client.get("/models/tiny-mlp-7").json()
        assert (entry["live"], entry["source"], entry["source_ref"]) == (True, "job", "job-succeeded")
    with sqlite3.connect(state / "jobs.sqlite3") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]


def test_a_job_that_cannot_write_its_outcome_is_refused_before_it_trains(tmp_path: Path) -> None:
    with TestClient(create_app(job_settings(tmp_path / "state", min_free_bytes=2**62))) as client:
        refused = client.post("/train", json=QUICK_JOB, headers=AUTH)
        assert refused.status_code == 507
        assert "MiB free" in refused.json()["detail"]
        assert str(tmp_path / "state") in refused.json()["detail"]
        assert client.get("/train").json()["jobs"] == []


def test_an_unwritable_models_directory_is_named_before_the_job_starts(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the models directory should be")  # unwritable even for root
    models = blocker / "models"
    with TestClient(create_app(job_settings(tmp_path / "state", models_dir=models))) as client:
        refused = client.post("/train", json=QUICK_JOB, headers=AUTH)
        assert refused.status_code == 507
        assert f"cannot write to {models}" in refused.json()["detail"]
        assert client.get("/train").json()["jobs"] == []


def test_an_outcome_the_database_refuses_is_never_served_and_the_job_does_not_stay_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with a database locked for longer than its timeout, or a full disk, when the job finishes."""
    attempts: list[str] = []

    def refuse(self: SqlJobStore, outcome: Any) -> int | None:
        attempts.append(outcome.job_id)
        raise OperationalError("UPDATE jobs", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(SqlJobStore, "succeed", refuse)
    monkeypatch.setattr(slot, "RECORD_TRIES", (0.05, 0.05))
    settings = job_settings(tmp_path / "state", heartbeat_seconds=0.2, trainer_lease_seconds=1.5)
    with TestClient(create_app(settings)) as client:
        job = start(client, ONE_EPOCH)
        ended = wait_for_job(client, job["id"], finished, timeout=120)
        assert len(attempts) == 3  # tried, retried, then left to the lease
        assert ended["status"] == "failed"
        assert "interrupted" in ended["error"]
        assert ended["activated"] is False
        assert served_id(client) == OLD_ID  # never recorded, so never served
        assert [model["id"] for model in client.get("/models").json() if model["live"]] == [OLD_ID]
        monkeypatch.undo()
        time.sleep(0.1)
        again = wait_for_job(client, start(client, ONE_EPOCH)["id"], finished)  # no 409 forever
        assert again["status"] == "succeeded", again["error"]
        assert served_id(client) == again["model_id"]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("mark_running", "database is locked"),
        ("add_epoch", "database or disk is full"),
        ("succeed", "database or disk is full"),
        ("finish", "database is locked"),
    ],
)
def test_a_database_that_refuses_any_step_of_a_job_leaves_the_job_and_the_live_model_in_agreement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, message: str
) -> None:
    """Each write of a job's life refused in turn (as by a lock held too long, or a full disk)."""
    original = getattr(SqlJobStore, step)

    def refuse(self: SqlJobStore, *args: Any, **kwargs: Any) -> Any:
        if step == "finish" and kwargs.get("activated") is not True:
            return original(self, *args, **kwargs)  # only the last write of a job whose model went live
        raise OperationalError(step, {}, sqlite3.OperationalError(message))

    monkeypatch.setattr(SqlJobStore, step, refuse)
    monkeypatch.setattr(slot, "RECORD_TRIES", (0.05,))
    settings = job_settings(tmp_path / "state", heartbeat_seconds=0.2, trainer_lease_seconds=1.5)
    with TestClient(create_app(settings)) as client:
        job = start(client, ONE_EPOCH)
        ended = wait_for_job(client, job["id"], finished, timeout=120)
        live = [model["id"] for model in client.get("/models").json() if model["live"]]
        assert live == [served_id(client)]  # the state and the served model agree
        if ended["status"] == "succeeded":
            assert step == "finish"  # the model was recorded and went live before the refused write
            assert ended["activated"] is True
            assert live == [ended["model_id"]]
            assert (tmp_path / "state" / "models" / f"{ended['model_id']}.safetensors").is_file()
        else:
            assert ended["status"] == "failed"
            assert live == [OLD_ID]
        monkeypatch.undo()
        again = client.post("/train", json=ONE_EPOCH, headers=AUTH)
        assert again.status_code == 202, again.text  # the slot is free again
        wait_for_job(client, again.json()["id"], finished)


def test_a_restart_never_deletes_a_model_that_went_live_before_its_job_was_closed(tmp_path: Path) -> None:
    """As after a crash between recording a job's activation and marking it succeeded."""
    state = tmp_path / "state"
    with TestClient(create_app(job_settings(state))):
        pass
    weights = write_tiny_artifact(state / "models" / "tiny-mlp-3.safetensors", seed=3)
    with opened(sqlite_url(state / "jobs.sqlite3")) as database:
        store = SqlJobStore(database)
        store.create("crashed", TrainCreate(**ONE_EPOCH).resolve(), "tiny-mlp-3")
        store.claim_next("dead")
        store.mark_running("crashed")
        model = record_for(weights, "job", "crashed", str(weights))
        store.succeed(Outcome("crashed", "dead", 0.9, model, weights, True, "activated"))

    with TestClient(create_app(job_settings(state))) as client:
        record = client.get("/train/crashed").json()
        assert record["status"] == "succeeded"
        assert record["activated"] is True
        assert served_id(client) == "tiny-mlp-3"
    assert weights.is_file()


def test_a_trainer_whose_job_was_failed_elsewhere_stops_it_and_records_nothing(tmp_path: Path) -> None:
    """As when a trainer stalls past its lease and another process fails its job: the job must not run on."""
    settings = job_settings(tmp_path / "state", heartbeat_seconds=0.2, trainer_lease_seconds=30)
    with TestClient(create_app(settings)) as client:
        job = start(client, LONG_JOB)
        wait_for_job(client, job["id"], lambda state: state["status"] == "running")
        pid = client.app.state.jobs.active_pid(job["id"])  # type: ignore[attr-defined]
        assert pid is not None
        with opened(sqlite_url(tmp_path / "state" / "jobs.sqlite3")) as database:  # another process's view
            [expired] = SqlJobStore(database).expire_leases(lease_seconds=0)
        assert expired.id == job["id"]

        assert wait_gone(pid, timeout=15), "the training process ran on after its job was failed elsewhere"
        ended = client.get(f"/train/{job['id']}").json()
        assert ended["status"] == "failed"
        assert ended["error"] == LEASE_LOST
        assert served_id(client) == OLD_ID
        models = tmp_path / "state" / "models"
        assert not list(models.glob(f"{expired.model_id}*"))  # never recorded, so nothing of it is kept
        again = client.post("/train", json={**ONE_EPOCH, "activate": False}, headers=AUTH)
        assert again.status_code == 202, again.text
        assert wait_for_job(client, again.json()["id"], finished)["status"] == "succeeded"
