"""Health, readiness, model info, start-up failure and the OpenAPI document."""

from __future__ import annotations

import gc
import logging
import re
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

import app.__main__ as entry
from app.core.config import Settings
from app.main import create_app
from tests.conftest import DATA_DIR


def test_ready_is_503_until_the_model_is_loaded(settings: Settings) -> None:
    app = create_app(settings)
    without_lifespan = TestClient(app)  # not entered: the lifespan (model load) has not run
    assert without_lifespan.get("/health").status_code == 200
    response = without_lifespan.get("/ready")
    assert response.status_code == 503
    assert "no model loaded" in response.json()["detail"]
    predict = without_lifespan.post("/predict", files={"file": ("d.png", b"\x89PNG", "image/png")})
    assert predict.status_code == 503
    with TestClient(app) as client:
        response = client.get("/ready")
        assert response.status_code == 200
        assert response.json()["model"] == client.get("/model").json()["id"]


def test_model_info(client: TestClient) -> None:
    body = client.get("/model").json()
    assert body["architecture"]["name"] == "compact"
    assert body["preprocessing"] == {"size": 28, "mean": 0.5, "std": 0.5}
    assert body["test_accuracy"] >= 0.993
    assert body["epochs"] == len(body["history"]) > 0
    assert body["final_epoch"] == body["history"][-1]
    assert body["created"]
    assert body["calibration"]["temperature"] > 0
    assert body["calibration"]["reject_threshold"] >= 0  # the not-a-digit class's log-odds
    assert body["classes"][-1] == "not a digit"


@pytest.mark.parametrize(("workers", "collector_on"), [("1", False), ("2", True)])
def test_python_m_app_starts_with_the_collector_off_and_the_lifespan_turns_it_back_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, workers: str, collector_on: bool
) -> None:
    """Off only while a serving process imports and loads (app/__main__.py, app/main.py); never in the
    supervisor of several workers, which runs no lifespan to turn it back on."""
    seen: list[bool] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.append(gc.isenabled()))
    monkeypatch.setenv("DIGITS_WORKERS", workers)
    try:
        entry.main()
        assert seen == [collector_on]
        with TestClient(create_app(settings)) as client:
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0  # start-up's objects are out of the collector's way
            assert client.get("/ready").status_code == 200
    finally:
        gc.enable()


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_bad_model_stops_startup_with_one_clear_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, problem: str
) -> None:
    model = tmp_path / "broken.safetensors"
    if problem == "corrupt":
        model.write_bytes(b"garbage")
        model.with_suffix(".json").write_text("{not json")
    settings = Settings(model=model, state_dir=tmp_path, data_dir=DATA_DIR)
    with pytest.raises(Exception, match="broken"), TestClient(create_app(settings)):
        pass
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and r.name == "app"]
    assert len(errors) == 1
    assert errors[0].startswith(f"cannot serve model {model}:")


def test_openapi_lists_every_route_with_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        ("/predict", "post"): {"200", "400", "413", "415", "422", "503"},
        ("/model", "get"): {"200", "503"},
        ("/health", "get"): {"200"},
        ("/ready", "get"): {"200", "503"},
    }
    for (path, method), statuses in expected.items():
        operation = paths[path][method]
        assert statuses <= set(operation["responses"]), (path, operation["responses"].keys())
        assert operation["summary"]
        assert operation["description"]
    body = paths["/predict"]["post"]["requestBody"]["content"]
    assert set(body["multipart/form-data"]["schema"]["properties"]) == {"file", "files"}
    assert "image/png" in body
    assert "example" in spec["components"]["schemas"]["PredictionPublic"]
    assert client.get("/docs").status_code == 200


def test_one_access_line_per_request_and_no_traceback_for_client_errors(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client.post("/predict", files={"file": ("empty.png", b"", "image/png")})
    client.get("/health")
    access = [r.getMessage() for r in caplog.records if r.name == "app.access"]
    assert len(access) == 2
    assert re.fullmatch(r"POST /predict 400 \d+\.\dms", access[0])
    assert re.fullmatch(r"GET /health 200 \d+\.\dms", access[1])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
