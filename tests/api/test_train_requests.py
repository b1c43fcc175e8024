"""/train requests that never start a job: authentication, validation, unknown ids, the generated token."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.jobs.auth import TOKEN_FILE
from app.main import create_app
from tests.api.train_helpers import AUTH, QUICK_JOB, TOKEN, job_settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(job_settings(tmp_path / "state"))) as test_client:
        yield test_client


def no_jobs(client: TestClient) -> bool:
    jobs: list[Any] = client.get("/train").json()["jobs"]
    return jobs == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer "},
        {"Authorization": TOKEN},
    ],
    ids=["missing", "wrong", "longer", "basic-scheme", "empty", "no-scheme"],
)
def test_start_without_the_right_token_is_401_and_starts_nothing(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/train", json=QUICK_JOB, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "token" in response.json()["detail"]
    assert no_jobs(client)


def test_a_bad_token_is_refused_before_the_body_is_judged(client: TestClient) -> None:
    assert client.post("/train", json={"epochs": 0}).status_code == 401


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", 101),
        ("epochs", 2.5),
        ("epochs", "3"),
        ("batch_size", 0),
        ("batch_size", 4097),
        ("learning_rate", 0),
        ("learning_rate", -0.1),
        ("learning_rate", 1.5),
        ("learning_rate", "fast"),
        ("seed", -1),
        ("train_limit", 0),
        ("train_limit", 60_000),
        ("arch", "resnet"),
        ("activate", "yes"),
        ("data_dir", "/etc"),
        ("out", "/tmp/x.safetensors"),
    ],
)
def test_bad_fields_are_422_naming_the_field(client: TestClient, field: str, value: Any) -> None:
    response = client.post("/train", json={**QUICK_JOB, field: value}, headers=AUTH)
    assert response.status_code == 422
    assert any(error["loc"][-1] == field for error in response.json()["detail"]), response.json()
    assert no_jobs(client)


@pytest.mark.parametrize("body", [[], "mlp", None])
def test_a_body_that_is_not_an_object_is_422(client: TestClient, body: Any) -> None:
    assert client.post("/train", json=body, headers=AUTH).status_code == 422
    assert no_jobs(client)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/train/{id}"), ("GET", "/train/{id}/plot.png"), ("GET", "/train/{id}/events"), ("DELETE", "/train/{id}")],
)
def test_unknown_job_is_404(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path.format(id="no-such-job"), headers=AUTH)
    assert response.status_code == 404
    assert "no-such-job" in response.json()["detail"]


def test_reading_is_open_but_cancel_needs_the_token(client: TestClient) -> None:
    assert client.get("/train").status_code == 200
    assert client.delete("/train/no-such-job").status_code == 401


def test_without_a_configured_token_one_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with TestClient(create_app(job_settings(state, admin_token=None))) as client:
        token_file = state / TOKEN_FILE
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        # Accepted (the unknown job is then a 404), unlike any other token.
        assert client.delete("/train/none", headers={"Authorization": f"Bearer {token}"}).status_code == 404
        assert client.delete("/train/none", headers=AUTH).status_code == 401
    with TestClient(create_app(job_settings(state, admin_token=None))) as restarted:
        # Kept across restarts: clients that read it once go on working.
        assert token_file.read_text().strip() == token
        assert restarted.delete("/train/none", headers={"Authorization": f"Bearer {token}"}).status_code == 404
        assert restarted.delete("/train/none", headers=AUTH).status_code == 401
