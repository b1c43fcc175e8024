"""Inputs an attacker or a fuzzer sends: each gets a 4xx that the schema documents, never a 500,
and costly images are refused from their headers before any pixel is decoded."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from PIL import Image

from app.api.middleware import UPLOAD_SLOT_BYTES, RequestBodyGuard
from app.core.config import Settings
from app.main import create_app
from tests.api.train_helpers import AUTH, QUICK_JOB, job_settings
from tests.conftest import DATA_DIR, SERVED_MODEL, png_bytes

DIGIT = png_bytes(np.eye(28, dtype=np.uint8) * 255)


def blank_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@pytest.fixture
def budget_client(tmp_path: Path, fast_path: bool) -> Iterator[TestClient]:
    settings = Settings(
        model=SERVED_MODEL,
        state_dir=tmp_path,
        data_dir=DATA_DIR,
        max_image_pixels=40_000_000,
        max_request_pixels=50_000_000,
        inference_workers=2,
    )
    with TestClient(create_app(settings, fast_path=fast_path)) as client:
        yield client


def test_a_batch_of_compressed_giants_is_refused_before_decoding(budget_client: TestClient) -> None:
    """33 one-colour 6300x6300 PNGs: ~5 MB on the wire, 1.3 gigapixels once decoded."""
    giant = blank_png(6300, 6300)
    files = [("files", (f"{i}.png", giant, "image/png")) for i in range(33)]
    response = budget_client.post("/predict", files=files)
    assert response.status_code == 413, response.text
    assert "1309770000 pixels in all, more than the limit of 50000000" in response.json()["detail"]
    lanes = budget_client.app.state.lanes  # type: ignore[attr-defined]
    assert lanes.fast.stats.images == lanes.slow.stats.images == 0  # nothing was decoded


def test_the_lane_follows_pixels_not_bytes(budget_client: TestClient) -> None:
    lanes = budget_client.app.state.lanes  # type: ignore[attr-defined]
    small_but_many_pixels = blank_png(2000, 2000)
    assert len(small_but_many_pixels) < 20_000  # tiny on the wire
    big_but_few_pixels = png_bytes(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8))
    assert budget_client.post("/predict", files={"file": ("a.png", small_but_many_pixels)}).status_code == 200
    assert lanes.slow.stats.images == 1
    assert lanes.fast.stats.images == 0
    assert budget_client.post("/predict", files={"file": ("b.png", big_but_few_pixels)}).status_code == 200
    assert lanes.fast.stats.images == 1
    assert lanes.slow.stats.images == 1


def test_the_large_lane_has_at_most_half_the_threads(budget_client: TestClient) -> None:
    lanes = budget_client.app.state.lanes  # type: ignore[attr-defined]
    assert len(lanes.slow._threads) == 1
    assert len(lanes.fast._threads) == 2


def float_tiff(pixels: np.ndarray[Any, np.dtype[np.float32]]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.float32), mode="F").save(buffer, format="TIFF")
    return buffer.getvalue()


def test_non_finite_pixels_are_refused(client: TestClient) -> None:
    nan = np.full((28, 28), np.nan, np.float32)
    nan[10:14, :] = np.inf  # the reported case: NaN with an Inf stripe got a confident "1"
    response = client.post("/predict", files={"file": ("nan.tif", float_tiff(nan), "image/tiff")})
    assert response.status_code == 400, response.text
    assert "non-finite pixel values" in response.json()["detail"]
    finite = np.zeros((28, 28), np.float32)
    finite[4:24, 13:15] = 255.0
    assert client.post("/predict", files={"file": ("ok.tif", float_tiff(finite), "image/tiff")}).status_code == 200


@pytest.mark.parametrize("scale", ["%C2%B2", "9" * 5000, "-1", "0", "33", "1e1", " 5"])
def test_frame_scale_that_is_not_a_small_integer_is_422(client: TestClient, scale: str) -> None:
    response = client.post(f"/predict/frame?scale={scale}", files={"file": ("d.png", DIGIT, "image/png")})
    assert response.status_code == 422, response.text


def test_an_upload_cap_answer_carries_retry_after(tmp_path: Path) -> None:
    """The cap itself is exercised against a live server; here: its 503 is well-formed on both paths."""
    sent: list[MutableMapping[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    guard = RequestBodyGuard(app, max_bytes=10 * UPLOAD_SLOT_BYTES, max_uploads=0)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"x" * (UPLOAD_SLOT_BYTES + 1), "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    length = str(5 * UPLOAD_SLOT_BYTES).encode()
    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [(b"content-length", length)]}
    with pytest.raises(HTTPException) as refused:
        asyncio.run(guard(scope, receive, send))
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "1"}
    assert guard.uploads_in_flight == 0
    assert sent == []  # the 503 itself is sent by whoever reads the body (fast path or FastAPI)


@pytest.fixture
def train_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(job_settings(tmp_path / "state"))) as client:
        yield client


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_learning_rate_is_422_naming_it(train_client: TestClient, literal: str) -> None:
    body = '{"arch": "mlp", "epochs": 1, "learning_rate": ' + literal + "}"
    response = train_client.post("/train", content=body, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    error = next(e for e in response.json()["detail"] if e["loc"][-1] == "learning_rate")
    assert error["input"] == literal
    assert train_client.get("/train").json()["jobs"] == []


def test_unparsable_json_is_a_documented_client_error(train_client: TestClient) -> None:
    response = train_client.post("/train", content=b"\xff\xfe{", headers={**AUTH, "content-type": "application/json"})
    assert response.status_code in (400, 422), response.text
    documented = train_client.get("/openapi.json").json()["paths"]["/train"]["post"]["responses"]
    assert str(response.status_code) in documented


def test_whole_numbers_written_as_floats_are_integers(
    train_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.jobs.schemas import TrainCreate

    parsed = TrainCreate.model_validate({"seed": 1056.0, "epochs": 3.0, "batch_size": 100.0, "train_limit": 1000.0})
    assert (parsed.seed, parsed.epochs, parsed.batch_size, parsed.train_limit) == (1056, 3, 100, 1000)
    assert isinstance(parsed.seed, int)
    for bad in ({"seed": 1056.5}, {"seed": "1056"}, {"seed": True}, {"epochs": 2.5}):
        response = train_client.post("/train", json={**QUICK_JOB, **bad}, headers=AUTH)
        assert response.status_code == 422, (bad, response.text)


def test_huge_integers_in_queries_are_422(train_client: TestClient) -> None:
    assert train_client.get("/train", params={"limit": "9" * 5000}).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PUT", "/train", "GET, POST"), ("GET", "/predict", "POST"), ("POST", "/train/x", "GET, DELETE")],
)
def test_405_lists_every_method_of_the_path(train_client: TestClient, method: str, path: str, allowed: str) -> None:
    response = train_client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


def test_last_event_id_is_a_documented_string_of_digits(train_client: TestClient) -> None:
    spec = train_client.get("/openapi.json").json()
    parameters = spec["paths"]["/train/{job_id}/events"]["get"]["parameters"]
    header = next(p for p in parameters if p["in"] == "header")
    assert header["schema"]["type"] == "string"
    assert header["schema"]["pattern"] == "^[0-9]{1,9}$"
    response = train_client.get("/train/nope/events", headers={"Last-Event-ID": "x" * 50})
    assert response.status_code == 422


def test_the_multipart_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(schema["properties"]) == {"file", "files"}
    frame = spec["paths"]["/predict/frame"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(frame["properties"]) == {"file"}
    batch = spec["components"]["schemas"]["BatchPredictionPublic"]["properties"]["predictions"]["items"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in batch["anyOf"]} == {"PredictionPublic", "ImageErrorPublic"}
    seed = spec["components"]["schemas"]["TrainCreate"]["properties"]["seed"]
    assert (seed["type"], seed["minimum"], seed["maximum"]) == ("integer", 0, 2**31 - 1)
