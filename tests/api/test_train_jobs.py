"""/train: a job's history grows epoch by epoch, its model is swapped in safely, and it can be cancelled."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from bench.local import process_alive
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
    wait_for,
    wait_gone,
)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(job_settings(tmp_path / "state"))) as test_client:
        yield test_client


def test_polling_shows_history_grow_and_the_new_model_is_served(client: TestClient, tmp_path: Path) -> None:
    old_model = served_id(client)
    job = start(client, QUICK_JOB)
    assert job["status"] == "queued"
    assert job["request"] == {
        **QUICK_JOB,
        "batch_size": 100,
        "seed": 0,
        "rendered": 0,
        "nondigits": 0,
        "activate": True,
        "force_activate": False,
    }
    seen: list[tuple[str, int]] = []

    def record(state: dict[str, Any]) -> bool:
        assert len(state["history"]) == state["current_epoch"]
        if not seen or seen[-1] != (state["status"], state["current_epoch"]):
            seen.append((state["status"], state["current_epoch"]))
        return finished(state)

    done = wait_for(client, job["id"], record)

    assert done["status"] == "succeeded", done["error"]
    epochs = [state[1] for state in seen]
    assert epochs == sorted(epochs)
    assert epochs[-1] == 3
    assert ("running", 0) in seen or any(status == "running" and epoch > 0 for status, epoch in seen)
    assert [entry["epoch"] for entry in done["history"]] == [1, 2, 3]
    assert set(done["history"][0]) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"}
    assert done["current_epoch"] == done["total_epochs"] == 3
    assert done["started_at"] is not None
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]
    assert done["activated"] is True
    assert done["error"] is None
    assert 0.5 < done["test_accuracy"] <= 1.0
    new_model = done["model_id"]
    assert new_model.startswith("mlp-")
    assert new_model != old_model

    assert served_id(client) == new_model
    prediction = client.post("/predict", files={"file": ("seven.png", digit_png(), "image/png")})
    assert prediction.status_code == 200
    assert prediction.json()["model"] == new_model
    models_dir = tmp_path / "state" / "models"
    assert sorted(p.name for p in models_dir.iterdir()) == [
        f"{new_model}{ext}" for ext in (".json", ".png", ".safetensors")
    ]
    assert [listed["id"] for listed in client.get("/train").json()["jobs"]] == [job["id"]]
    plot = client.get(f"/train/{job['id']}/plot.png")
    assert plot.status_code == 200
    assert plot.headers["content-type"] == "image/png"
    assert plot.content.startswith(b"\x89PNG")


def test_predictions_during_the_swap_all_succeed(client: TestClient) -> None:
    old_model = served_id(client)
    image = digit_png()
    stop = threading.Event()
    answers: list[list[tuple[int, str]]] = [[] for _ in range(3)]

    def fire(log: list[tuple[int, str]]) -> None:
        while not stop.is_set():
            response = client.post("/predict", files={"file": ("seven.png", image, "image/png")})
            log.append((response.status_code, response.json().get("model", response.text)))

    threads = [threading.Thread(target=fire, args=(log,)) for log in answers]
    for thread in threads:
        thread.start()
    try:
        job = start(client, QUICK_JOB)
        done = wait_for(client, job["id"], finished)
        after = len(answers[0])
        wait_for(client, job["id"], lambda _: len(answers[0]) >= after + 5, timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert done["status"] == "succeeded", done["error"]
    new_model = done["model_id"]
    for log in answers:
        assert {status for status, _ in log} == {200}
        models = [model for _, model in log]
        assert set(models) <= {old_model, new_model}
        # Each client switches once: old answers, then new ones, never back.
        switch = models.index(new_model)
        assert set(models[:switch]) <= {old_model}
        assert set(models[switch:]) == {new_model}
    assert any(model == old_model for log in answers for _, model in log)


def parse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (event name, fields) for each event of an SSE stream."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if fields:
                yield fields.get("event", "message"), fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def test_events_stream_each_epoch_live_then_the_end(client: TestClient) -> None:
    old_model = served_id(client)
    job = start(client, {**QUICK_JOB, "train_limit": 5000, "activate": False})
    events: list[tuple[str, dict[str, str]]] = []
    status_at_first_epoch = None
    with client.stream("GET", f"/train/{job['id']}/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for event in parse_events(stream.iter_lines()):
            events.append(event)
            if status_at_first_epoch is None:
                status_at_first_epoch = client.get(f"/train/{job['id']}").json()["status"]

    assert status_at_first_epoch == "running"  # the first event came while the job was still training
    # Progress within an epoch (no id) may come between the epochs: each before its own epoch's event.
    completed = 0
    for name, fields in events:
        if name == "epoch":
            completed += 1
        elif name == "progress":
            progress = json.loads(fields["data"])
            assert "id" not in fields
            assert progress["epoch"] == completed + 1
            assert 1 <= progress["batch"] <= progress["batches"] == 50
    events = [(name, fields) for name, fields in events if name != "progress"]
    assert [name for name, _ in events] == ["epoch", "epoch", "epoch", "end"]
    epochs = [json.loads(fields["data"]) for _, fields in events[:3]]
    assert [(e["epoch"], e["total_epochs"]) for e in epochs] == [(1, 3), (2, 3), (3, 3)]
    assert [fields["id"] for _, fields in events[:3]] == ["1", "2", "3"]
    end = json.loads(events[-1][1]["data"])
    assert end["status"] == "succeeded"
    assert end["activated"] is False
    assert [e["train_loss"] for e in epochs] == [h["train_loss"] for h in end["history"]]
    assert served_id(client) == old_model  # activate: false leaves serving alone

    # A late client gets the past epochs, then the end; Last-Event-ID resumes after an epoch.
    late = list(parse_events(client.get(f"/train/{job['id']}/events").iter_lines()))
    assert [name for name, _ in late] == ["epoch", "epoch", "epoch", "end"]
    resumed = client.get(f"/train/{job['id']}/events", headers={"Last-Event-ID": "2"})
    assert [(name, fields.get("id")) for name, fields in parse_events(resumed.iter_lines())] == [
        ("epoch", "3"),
        ("end", None),
    ]


def test_conflict_then_cancel_stops_the_process_and_keeps_the_model(client: TestClient, tmp_path: Path) -> None:
    old_model = served_id(client)
    job = start(client, LONG_JOB)
    conflict = client.post("/train", json=QUICK_JOB, headers=AUTH)
    assert conflict.status_code == 409
    assert conflict.json()["running_job_id"] == job["id"]
    assert job["id"] in conflict.json()["detail"]
    wait_for(client, job["id"], lambda state: state["current_epoch"] >= 1)
    pid = client.app.state.jobs.active_pid(job["id"])  # type: ignore[attr-defined]
    assert pid is not None
    assert process_alive(pid)

    assert client.delete(f"/train/{job['id']}").status_code == 401
    assert client.delete(f"/train/{job['id']}", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert process_alive(pid)
    response = client.delete(f"/train/{job['id']}", headers=AUTH)

    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["model_id"] is None
    assert cancelled["current_epoch"] >= 1
    assert cancelled["finished_at"] is not None
    assert not process_alive(pid)
    assert served_id(client) == old_model
    models_dir = tmp_path / "state" / "models"
    assert not models_dir.exists() or list(models_dir.iterdir()) == []
    assert client.get(f"/train/{job['id']}").json()["status"] == "cancelled"
    again = client.delete(f"/train/{job['id']}", headers=AUTH)
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]


def test_cancel_while_queued_kills_the_starting_process(client: TestClient) -> None:
    job = start(client, LONG_JOB)
    pid = client.app.state.jobs.active_pid(job["id"])  # type: ignore[attr-defined]
    assert pid is not None
    response = client.delete(f"/train/{job['id']}", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert wait_gone(pid, timeout=1)
    # The slot is free again.
    follow_up = client.post("/train", json={**QUICK_JOB, "epochs": 1}, headers=AUTH)
    assert follow_up.status_code == 202
    assert wait_for(client, follow_up.json()["id"], finished)["status"] == "succeeded"


def test_a_crashed_training_process_fails_the_job_and_keeps_the_model(client: TestClient) -> None:
    old_model = served_id(client)
    job = start(client, LONG_JOB)
    wait_for(client, job["id"], lambda state: state["current_epoch"] >= 1)
    pid = client.app.state.jobs.active_pid(job["id"])  # type: ignore[attr-defined]
    os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
    done = wait_for(client, job["id"], finished)
    assert done["status"] == "failed"
    assert "exited unexpectedly" in done["error"]
    assert done["current_epoch"] >= 1  # the epochs it finished are kept
    assert served_id(client) == old_model


def test_a_failed_job_reports_a_safe_error_and_leaves_artifacts_alone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    models_dir = state / "models"
    models_dir.mkdir(parents=True)
    for source in OLD_MODEL.parent.glob(f"{OLD_MODEL.stem}.*"):
        shutil.copy(source, models_dir / source.name)
    before = {path.name: path.read_bytes() for path in models_dir.iterdir()}
    settings = job_settings(state, data_dir=tmp_path / "no-mnist-here")
    with TestClient(create_app(settings)) as client:
        old_model = served_id(client)
        done = wait_for(client, start(client, QUICK_JOB)["id"], finished)
        assert served_id(client) == old_model

    assert done["status"] == "failed"
    assert done["error"] == "the training data (DIGITS_DATA_DIR) is missing or unreadable; see the server log"
    assert "no-mnist-here" not in done["error"]
    assert done["model_id"] is None
    assert {path.name: path.read_bytes() for path in models_dir.iterdir()} == before
