"""/predict on photos and drawings: preprocess modes, the frame the model saw, blank images."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import png_bytes
from training.mnist import MnistSplit

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "realworld"


def sample_files(subset: str) -> list[tuple[Path, int]]:
    return [(path, int(path.stem.rsplit("-", 1)[1])) for path in sorted((SAMPLE / subset).iterdir())]


def batch_accuracy(client: TestClient, files: list[tuple[Path, int]], mode: str) -> float:
    uploads = [("files", (path.name, path.read_bytes(), "application/octet-stream")) for path, _ in files]
    response = client.post(f"/predict?preprocess={mode}", files=uploads)
    assert response.status_code == 200, response.text
    digits = [p["digit"] for p in response.json()["predictions"]]
    return float(np.mean([digit == label for digit, (_, label) in zip(digits, files, strict=True)]))


def test_auto_reads_photos_that_raw_gets_wrong(client: TestClient) -> None:
    photos = sample_files("photos")
    assert len(photos) >= 40
    raw, auto, mnist = (batch_accuracy(client, photos, mode) for mode in ("raw", "auto", "mnist"))
    assert auto >= 0.95
    assert mnist == auto  # a photo is never MNIST-like, so auto frames it exactly as mnist does
    assert raw <= 0.4
    assert auto - raw >= 0.5


def test_photo_answer_says_it_was_framed(client: TestClient) -> None:
    path, label = sample_files("photos")[0]
    body = client.post("/predict", files={"file": (path.name, path.read_bytes(), "image/jpeg")}).json()
    assert body["framed"] is True
    assert body["digit"] == label


def test_return_frame_gives_the_28x28_the_model_saw(client: TestClient, mnist_test: MnistSplit) -> None:
    digit = mnist_test.images[0]
    body = client.post("/predict?return_frame=true", files={"file": ("d.png", png_bytes(digit), "image/png")}).json()
    frame = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["frame"]))))
    assert frame.shape == (28, 28)
    assert np.array_equal(frame, digit)  # auto left the MNIST digit untouched
    photo, _ = sample_files("photos")[0]
    framed = client.post("/predict?return_frame=true", files={"file": ("p.jpg", photo.read_bytes(), "image/jpeg")})
    frame = np.asarray(Image.open(io.BytesIO(base64.b64decode(framed.json()["frame"]))))
    assert frame.shape == (28, 28)
    # Framed like MNIST: light ink on black, the digit's long side about 20 px, nothing on the border.
    assert max(frame[0].max(), frame[-1].max(), frame[:, 0].max(), frame[:, -1].max()) == 0
    rows, cols = np.nonzero(frame >= 64)
    assert 18 <= max(np.ptp(rows), np.ptp(cols)) + 1 <= 22
    assert frame.max() > 200


def test_frame_endpoint_answers_a_png(client: TestClient, mnist_test: MnistSplit) -> None:
    response = client.post("/predict/frame?scale=4", files={"file": ("d.png", png_bytes(mnist_test.images[0]))})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (112, 112)
    assert np.array_equal(np.asarray(image)[::4, ::4], mnist_test.images[0])


def test_frame_endpoint_takes_one_image(client: TestClient, mnist_test: MnistSplit) -> None:
    files = [("files", ("a.png", png_bytes(mnist_test.images[0]), "image/png"))] * 2
    assert client.post("/predict/frame", files=files).status_code == 422
    assert client.post("/predict/frame?scale=0", files=files[:1]).status_code == 422


@pytest.mark.parametrize("mode", ["auto", "mnist", "raw"])
def test_blank_canvas_is_not_a_digit(client: TestClient, mode: str) -> None:
    canvas = png_bytes(np.full((300, 400), 255, np.uint8))
    response = client.post(f"/predict?preprocess={mode}", files={"file": ("blank.png", canvas, "image/png")})
    assert response.status_code == 200
    body = response.json()
    assert body["digit"] is None
    assert body["confidence"] is None
    assert body["probabilities"] is None
    assert body["reason"]


def test_plain_paper_photo_is_not_a_digit(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    paper = np.clip(rng.normal(200, 4, (480, 640)) + np.linspace(-20, 20, 640)[None, :], 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(paper).convert("RGB").save(buffer, format="JPEG", quality=85)
    body = client.post("/predict", files={"file": ("paper.jpg", buffer.getvalue(), "image/jpeg")}).json()
    assert body["digit"] is None
    assert "blank" in body["reason"]


def test_blank_in_a_batch_only_blanks_that_image(client: TestClient, mnist_test: MnistSplit) -> None:
    files = [
        ("files", ("seven.png", png_bytes(mnist_test.images[0]), "image/png")),
        ("files", ("blank.png", png_bytes(np.zeros((28, 28), np.uint8)), "image/png")),
        ("files", ("two.png", png_bytes(mnist_test.images[1]), "image/png")),
    ]
    predictions = client.post("/predict", files=files).json()["predictions"]
    assert [p["digit"] for p in predictions] == [7, None, 2]


def test_unknown_preprocess_mode_is_422(client: TestClient, mnist_test: MnistSplit) -> None:
    response = client.post("/predict?preprocess=magic", files={"file": ("d.png", png_bytes(mnist_test.images[0]))})
    assert response.status_code == 422
    assert "preprocess" in str(response.json()["detail"])


def test_schema_documents_null_digit_and_frame(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PredictionPublic"]
    assert {"digit", "reason", "framed", "frame"} <= set(schema["properties"])
    assert "null" in str(schema["properties"]["digit"])


def test_huge_jpeg_photo_is_decoded_at_reduced_scale_and_read(client: TestClient) -> None:
    from app.core.imaging import DRAFT_LONG_SIDE, decode_image

    path, label = sample_files("photos")[0]
    big = Image.open(path).convert("RGB").resize((4000, 3000))
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG", quality=90)
    decoded = decode_image(buffer.getvalue(), max_pixels=40_000_000)
    assert DRAFT_LONG_SIDE <= max(decoded.size) < 4000
    response = client.post("/predict", files={"file": ("big.jpg", buffer.getvalue(), "image/jpeg")})
    assert response.json()["digit"] == label
