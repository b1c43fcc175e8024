"""POST /predict on real MNIST digits: accuracy, probabilities, batches, formats, bit-exact input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from app.core.inference import Upload, prepare_upload
from tests.conftest import png_bytes
from training.artifacts import load_artifact
from training.loop import Tensors
from training.mnist import MnistSplit
from training.preprocessing import normalize

SAMPLE = 500


def test_predictions_on_500_mnist_pngs_match_labels(client: TestClient, mnist_test: MnistSplit) -> None:
    loaded = client.app.state.holder.current  # type: ignore[attr-defined]
    expected_accuracy = float(loaded.metadata["test"]["accuracy"])
    sample = mnist_test.head(SAMPLE)
    files = [("files", (f"{i}.png", png_bytes(img), "image/png")) for i, img in enumerate(sample.images)]
    digits: list[int] = []
    for start in range(0, SAMPLE, 50):
        response = client.post("/predict", files=files[start : start + 50])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == loaded.id
        digits += [p["digit"] for p in body["predictions"]]
    accuracy = float(np.mean(np.array(digits) == sample.labels))
    # The first 500 test digits are easier than average; allow a little sampling noise below the 10k figure.
    assert accuracy >= expected_accuracy - 0.01
    # And exactly what the model gives in-process on the same pixels.
    scores = loaded.score(Tensors.from_split(sample).inputs.numpy())
    in_process = [
        None if no else d
        for d, no in zip(scores.probabilities.argmax(axis=1).tolist(), scores.refused.tolist(), strict=True)
    ]
    assert digits == in_process


def test_single_prediction_shape(client: TestClient, mnist_test: MnistSplit) -> None:
    response = client.post("/predict", files={"file": ("seven.png", png_bytes(mnist_test.images[0]), "image/png")})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"digit", "confidence", "probabilities", "model", "framed"}
    assert body["framed"] is False  # an MNIST digit goes through exactly the training path
    assert body["digit"] == int(mnist_test.labels[0]) == 7
    assert len(body["probabilities"]) == 10
    assert sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert body["confidence"] == max(body["probabilities"])
    assert body["probabilities"].index(body["confidence"]) == body["digit"]


def test_batch_results_equal_single_results(client: TestClient, mnist_test: MnistSplit) -> None:
    images = [png_bytes(img) for img in mnist_test.images[:8]]
    batch = client.post("/predict", files=[("files", (f"{i}.png", b, "image/png")) for i, b in enumerate(images)])
    assert batch.status_code == 200
    predictions = batch.json()["predictions"]
    assert len(predictions) == 8
    for image, from_batch in zip(images, predictions, strict=True):
        single = client.post("/predict", files={"file": ("d.png", image, "image/png")}).json()
        assert single["digit"] == from_batch["digit"]
        assert single["probabilities"] == pytest.approx(from_batch["probabilities"], abs=1e-6)


def test_raw_body_upload(client: TestClient, mnist_test: MnistSplit) -> None:
    response = client.post("/predict", content=png_bytes(mnist_test.images[1]), headers={"content-type": "image/png"})
    assert response.status_code == 200
    assert response.json()["digit"] == int(mnist_test.labels[1])


@pytest.mark.parametrize("mode", ["auto", "raw"])
def test_server_input_is_bit_identical_to_training_input(mnist_test: MnistSplit, tiny_model: Path, mode: str) -> None:
    loaded = load_artifact(tiny_model)
    sample = mnist_test.head(20)
    training_tensor = Tensors.from_split(sample).inputs
    for index, pixels in enumerate(sample.images):
        upload = Upload(filename="x.png", content_type="image/png", data=png_bytes(pixels))
        prepared = prepare_upload(upload, mode, max_pixels=10_000)  # type: ignore[arg-type]
        assert not prepared.framed
        served = normalize(prepared.pixels, loaded.normalization)
        assert torch.equal(torch.from_numpy(served[0]), training_tensor[index])


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [
        ("PNG", "L"),
        ("PNG", "RGB"),
        ("PNG", "RGBA"),
        ("PNG", "P"),
        ("PNG", "I;16"),
        ("JPEG", "L"),
        ("JPEG", "RGB"),
        ("BMP", "RGB"),
        ("GIF", "P"),
        ("WEBP", "RGB"),
        ("TIFF", "L"),
        ("TIFF", "RGB"),
    ],
)
def test_image_formats_and_modes(client: TestClient, mnist_test: MnistSplit, fmt: str, mode: str) -> None:
    digit = mnist_test.images[0]  # a clear 7
    if mode == "I;16":
        buffer = io.BytesIO()
        Image.fromarray(digit.astype(np.uint16) * 257).save(buffer, format=fmt)
        data = buffer.getvalue()
    else:
        data = png_bytes(digit, mode=mode, fmt=fmt)
    response = client.post("/predict", files={"file": (f"seven.{fmt.lower()}", data, f"image/{fmt.lower()}")})
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == 7


def test_large_image_is_resized(client: TestClient, mnist_test: MnistSplit) -> None:
    big = np.asarray(Image.fromarray(mnist_test.images[0]).resize((280, 280), Image.Resampling.BILINEAR))
    response = client.post("/predict", files={"file": ("big.png", png_bytes(big), "image/png")})
    assert response.status_code == 200
    assert response.json()["digit"] == 7
