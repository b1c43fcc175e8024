"""Shared pieces of the /train tests: settings over a temp state directory, waiting, process checks."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from app.core.config import PROJECT_ROOT, Settings
from bench.local import process_alive
from training.mnist import load_split

DATA_DIR = (PROJECT_ROOT.parent / "shared" / "data" / "mnist").resolve()
OLD_MODEL = PROJECT_ROOT / "models" / "mlp.safetensors"
TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Seconds: process start and data loading dominate; each epoch on 1,000 images is a few hundredths.
QUICK_JOB: dict[str, Any] = {"arch": "mlp", "epochs": 3, "learning_rate": 1e-3, "train_limit": 1000}
# Minutes on one thread: only ever cancelled or interrupted.
LONG_JOB: dict[str, Any] = {"arch": "mlp", "epochs": 100, "learning_rate": 1e-3}
FINISHED = {"succeeded", "failed", "cancelled"}


def job_settings(state_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "model": OLD_MODEL,
        "data_dir": DATA_DIR,
        "state_dir": state_dir,
        "admin_token": SecretStr(TOKEN),
        "inference_workers": 2,
        # A 1,000-image job is far below the committed model: the quality gate has tests of its own
        # (tests/api/test_registry.py); here every job's model may serve.
        "activation_tolerance": 100,
    }
    return Settings(**{**values, **overrides})


def wait_for(
    client: TestClient, job_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 90.0
) -> dict[str, Any]:
    """Poll GET /train/{id} until `done(job)`; fails the test with the last state after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/train/{job_id}").json()
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job did not reach the expected state in {timeout}s: {job}"
        time.sleep(0.05)


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in FINISHED


def digit_png(index: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(load_split(DATA_DIR, "test").images[index]).save(buffer, format="PNG")
    return buffer.getvalue()


def wait_gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def served_id(client: TestClient) -> str:
    model_id: str = client.get("/model").json()["id"]
    return model_id


def start(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    """POST /train with the admin token; the job must be accepted, with its Location."""
    response = client.post("/train", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == job["status_url"] == f"/train/{job['id']}"
    return job
