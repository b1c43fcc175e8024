"""The model registry over HTTP, on both backends: list, describe, download, activate, delete, the quality gate,
retention, and a live model that survives restarts."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.exc import OperationalError

from app.core.config import Settings
from app.main import create_app
from app.storage.jobs import SqlJobStore
from tests.api.train_helpers import AUTH, OLD_MODEL, QUICK_JOB, digit_png, finished, job_settings, served_id, start
from tests.api.train_helpers import wait_for as wait_for_job
from tests.conftest import MODELS_DIR
from training.artifact_format import read_metadata
from training.artifacts import load_artifact

COMMITTED = {read_metadata(path)["id"]: path for path in sorted(MODELS_DIR.glob("*.safetensors"))}
OLD_ID = read_metadata(OLD_MODEL)["id"]
ONE_EPOCH = {**QUICK_JOB, "epochs": 1}


def backend_settings(database_url: str, state: Path, **overrides: Any) -> Settings:
    """Settings over STATE (embedded) or over DATABASE_URL (PostgreSQL, this process a trainer)."""
    if database_url.startswith("sqlite"):
        return job_settings(state, **overrides)
    return job_settings(state, database_url=SecretStr(database_url), trainer=True, **overrides)


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(backend_settings(database_url, tmp_path / "state"))) as test_client:
        yield test_client


def listed(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/models")
    assert response.status_code == 200, response.text
    models: list[dict[str, Any]] = response.json()
    return models


def test_committed_models_are_registered_and_the_served_one_is_live(client: TestClient) -> None:
    models = listed(client)
    assert {model["id"] for model in models} == set(COMMITTED)
    assert [model["id"] for model in models if model["live"]] == [OLD_ID] == [served_id(client)]
    created = [model["created"] for model in models]
    assert created == sorted(created, reverse=True)  # newest first
    for model in models:
        path = COMMITTED[model["id"]]
        meta = read_metadata(path)
        assert model["architecture"] == meta["architecture"]
        assert model["architecture"]["name"] in {"mlp", "cnn", "compact"}
        assert model["test_accuracy"] == meta["test"]["accuracy"]
        assert model["sha256"] == meta["weights_sha256"]
        assert model["size"] == path.stat().st_size
        assert model["source"] == "file"
        assert model["source_ref"] == f"models/{path.name}"

    detail = client.get(f"/models/{OLD_ID}").json()
    assert detail["live"] is True
    assert len(detail["history"]) == len(read_metadata(OLD_MODEL)["history"])
    assert detail["hyperparameters"] == read_metadata(OLD_MODEL)["hyperparameters"]
    assert client.get("/models/nope").status_code == 404


def test_a_downloaded_model_loads_and_matches_the_registered_checksum(client: TestClient, tmp_path: Path) -> None:
    [cnn_id] = [model_id for model_id, path in COMMITTED.items() if path.name == "cnn-large.safetensors"]
    response = client.get(f"/models/{cnn_id}/weights")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == [f"{cnn_id}.json", f"{cnn_id}.safetensors"]
        archive.extractall(tmp_path / "download")
    loaded = load_artifact(tmp_path / "download" / f"{cnn_id}.safetensors")  # checks the sha256 too
    assert loaded.id == cnn_id
    alone = client.get(f"/models/{cnn_id}/weights", params={"part": "safetensors"})
    assert alone.content == COMMITTED[cnn_id].read_bytes()
    sidecar = client.get(f"/models/{cnn_id}/weights", params={"part": "json"})
    assert json.loads(sidecar.content) == read_metadata(COMMITTED[cnn_id])
    assert client.get(f"/models/{cnn_id}/weights", params={"part": "pickle"}).status_code == 422
    assert client.get("/models/nope/weights").status_code == 404


def test_activate_needs_the_token_swaps_without_a_failed_request_and_survives_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    settings = backend_settings(database_url, tmp_path / "state")
    [cnn_id] = [model_id for model_id, path in COMMITTED.items() if path.name == "cnn-large.safetensors"]
    with TestClient(create_app(settings)) as client:
        assert client.post(f"/models/{cnn_id}/activate").status_code == 401
        assert client.post("/models/nope/activate", headers=AUTH).status_code == 404
        image = digit_png()
        stop = threading.Event()
        answers: list[tuple[int, str]] = []

        def fire() -> None:
            while not stop.is_set():
                response = client.post("/predict", files={"file": ("seven.png", image, "image/png")})
                answers.append((response.status_code, response.json().get("model", response.text)))

        thread = threading.Thread(target=fire)
        thread.start()
        try:
            for model_id in (cnn_id, OLD_ID, cnn_id):
                response = client.post(f"/models/{model_id}/activate", headers=AUTH)
                assert response.status_code == 200, response.text
                assert response.json()["live"] is True
                assert served_id(client) == model_id
                before = len(answers)
                while len(answers) < before + 3:
                    threading.Event().wait(0.01)
        finally:
            stop.set()
            thread.join()
        assert {status for status, _ in answers} == {200}
        assert {model for _, model in answers} == {OLD_ID, cnn_id}
        assert [model["id"] for model in listed(client) if model["live"]] == [cnn_id]

    with TestClient(create_app(settings)) as restarted:
        assert served_id(restarted) == cnn_id  # not DIGITS_MODEL: the last activation
        assert [model["id"] for model in listed(restarted) if model["live"]] == [cnn_id]


def test_the_live_model_cannot_be_deleted_and_others_can(client: TestClient) -> None:
    [other] = [model_id for model_id in COMMITTED if model_id != OLD_ID][:1]
    assert client.delete(f"/models/{OLD_ID}").status_code == 401
    refused = client.delete(f"/models/{OLD_ID}", headers=AUTH)
    assert refused.status_code == 409
    assert "live" in refused.json()["detail"]
    assert client.delete(f"/models/{other}", headers=AUTH).status_code == 204
    assert client.get(f"/models/{other}").status_code == 404
    assert client.delete(f"/models/{other}", headers=AUTH).status_code == 404
    assert COMMITTED[other].is_file()  # a committed file is the checkout's, not the registry's


def test_the_quality_gate_holds_back_a_worse_model_and_says_why_unless_forced(
    database_url: str, tmp_path: Path
) -> None:
    settings = backend_settings(database_url, tmp_path / "state", activation_tolerance=0.2)
    with TestClient(create_app(settings)) as client:
        held = wait_for_job(client, start(client, ONE_EPOCH)["id"], finished)
        assert held["status"] == "succeeded", held["error"]
        assert held["activated"] is False
        assert "not activated" in held["activation_note"]
        assert "DIGITS_ACTIVATION_TOLERANCE" in held["activation_note"]
        assert served_id(client) == OLD_ID
        entry = client.get(f"/models/{held['model_id']}").json()
        assert entry["live"] is False
        assert entry["source"] == "job"
        assert entry["source_ref"] == held["id"]
        assert entry["test_accuracy"] == held["test_accuracy"]

        forced = wait_for_job(client, start(client, {**ONE_EPOCH, "force_activate": True})["id"], finished)
        assert forced["status"] == "succeeded", forced["error"]
        assert forced["activated"] is True
        assert "forced" in forced["activation_note"]
        assert served_id(client) == forced["model_id"]

        # An administrator may still serve the held-back model: activation by id has no gate.
        assert client.post(f"/models/{held['model_id']}/activate", headers=AUTH).status_code == 200
        assert served_id(client) == held["model_id"]


def test_retention_prunes_models_that_never_served_but_not_the_live_one(database_url: str, tmp_path: Path) -> None:
    settings = backend_settings(database_url, tmp_path / "state", activation_tolerance=0.2, keep_models=0, keep_jobs=1)
    with TestClient(create_app(settings)) as client:
        first = wait_for_job(client, start(client, ONE_EPOCH)["id"], finished)
        assert first["activated"] is False
        live = wait_for_job(client, start(client, {**ONE_EPOCH, "force_activate": True})["id"], finished)
        assert live["activated"] is True
        deadline = time.monotonic() + 10  # retention runs right after the job's outcome is recorded
        while first["model_id"] in (ids := {model["id"] for model in listed(client)}):
            assert time.monotonic() < deadline, "the model that never served was not pruned"
            time.sleep(0.05)
        assert live["model_id"] in ids  # live: kept
        assert set(COMMITTED) <= ids  # committed files are never pruned
        while [job["id"] for job in client.get("/train").json()["jobs"]] != [live["id"]]:
            assert time.monotonic() < deadline, "the older job was not pruned"
            time.sleep(0.05)
        if database_url.startswith("sqlite"):
            assert not (tmp_path / "state" / "models" / f"{first['model_id']}.safetensors").exists()


def test_the_registry_routes_are_documented_with_their_errors(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    expected = {
        ("/models", "get"): {"200", "503"},
        ("/models/{model_id}", "get"): {"200", "404", "503"},
        ("/models/{model_id}/weights", "get"): {"200", "404", "409", "422", "503"},
        ("/models/{model_id}/activate", "post"): {"200", "401", "404", "409", "503"},
        ("/models/{model_id}", "delete"): {"204", "401", "404", "409", "503"},
        ("/train", "post"): {"202", "401", "409", "422", "503", "507"},
    }
    for (path, method), statuses in expected.items():
        operation = paths[path][method]
        assert statuses <= set(operation["responses"]), (path, method, operation["responses"].keys())
        assert operation["summary"]
        assert operation["description"]


def test_a_generated_token_is_kept_across_restarts_and_shared_by_every_replica(
    database_url: str, tmp_path: Path
) -> None:
    """Embedded: the processes share the state directory. PostgreSQL: replicas with state directories of their own."""
    tokens = []
    for name in ("one", "two", "one"):
        state = tmp_path / name if not database_url.startswith("sqlite") else tmp_path / "state"
        with TestClient(create_app(backend_settings(database_url, state, admin_token=None))) as client:
            token = (state / "admin-token").read_text().strip()
            assert client.post("/models/nope/activate", headers={"Authorization": f"Bearer {token}"}).status_code == 404
            assert client.post("/models/nope/activate", headers=AUTH).status_code == 401
            tokens.append(token)
    assert len(set(tokens)) == 1
    assert len(tokens[0]) >= 32


def test_a_database_error_while_running_is_a_503_naming_it(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def locked(self: SqlJobStore, limit: int) -> list[Any]:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(SqlJobStore, "recent", locked)
    response = client.get("/train")
    assert response.status_code == 503
    assert "database is locked" in response.json()["detail"]
    assert client.post("/predict", files={"file": ("seven.png", digit_png(), "image/png")}).status_code == 200
