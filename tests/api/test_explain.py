"""POST /predict/explain: Captum's integrated gradients as a 28x28 array and a PNG overlay."""

from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from PIL import Image

import app.core.inference as inference
from app.core.attribution import torch_network
from app.core.explain import Explanation, attribute, explain
from tests.conftest import png_bytes
from training.mnist import MnistSplit
from training.preprocessing import normalize
from training.runtime import ServedModel


@pytest.fixture
def fast_path() -> bool:
    """/predict/explain is a router route whichever way /predict is served: one run is enough."""
    return True


def _png(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def test_explains_the_predicted_digit(client: TestClient, mnist_test: MnistSplit) -> None:
    image, label = mnist_test.images[0], int(mnist_test.labels[0])
    response = client.post("/predict/explain", files={"file": ("d.png", png_bytes(image), "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["digit"] == label
    assert body["target"] == label
    assert sum(body["probabilities"]) == pytest.approx(1, abs=1e-5)
    attribution = np.array(body["attribution"])
    assert attribution.shape == (28, 28)
    assert np.abs(attribution).max() == pytest.approx(1)
    # Integrated gradients from an empty frame credit only pixels that hold ink.
    assert np.all(attribution[image == 0] == 0)
    # The ink as a whole pushed towards the answer.
    assert attribution[image > 0].sum() > 0
    overlay = _png(body["overlay"])
    assert overlay.size == (280, 280)  # default scale 10, like /predict/frame
    assert overlay.mode == "RGB"
    frame = _png(body["frame"])
    assert frame.size == (28, 28)
    assert np.array_equal(np.asarray(frame), image)


def test_attribution_is_complete(client: TestClient, mnist_test: MnistSplit) -> None:
    """Integrated gradients' completeness: the raw attributions add up to the logit's change from the baseline."""
    served = client.app.state.holder.current  # type: ignore[attr-defined]
    image = mnist_test.images[1]
    target = int(served.score(normalize(image, served.normalization)).probabilities.argmax())
    from captum.attr import IntegratedGradients

    network = torch_network(served)  # the served weights, as a torch network (gradients)
    inputs = torch.from_numpy(normalize(image, served.normalization)).requires_grad_(True)
    baseline = torch.from_numpy(normalize(np.zeros_like(image), served.normalization))
    raw = IntegratedGradients(network).attribute(inputs, baselines=baseline, target=target, n_steps=32).detach()
    logits = network(inputs).detach()[0, target] - network(baseline).detach()[0, target]
    assert float(raw.sum()) == pytest.approx(float(logits), rel=0.1)
    with torch.inference_mode():  # the torch network computes what the served one does
        assert np.allclose(network(baseline).numpy(), served.forward(baseline.numpy()), atol=1e-4)
    scaled = attribute(served, image, target)
    assert np.allclose(scaled, raw[0, 0].numpy() / np.abs(raw.numpy()).max(), atol=1e-5)


def test_another_target_and_scale(client: TestClient, mnist_test: MnistSplit) -> None:
    image = mnist_test.images[0]
    response = client.post(
        "/predict/explain?target=3&scale=4", files={"file": ("d.png", png_bytes(image), "image/png")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["target"] == 3
    assert body["digit"] == int(mnist_test.labels[0])
    assert _png(body["overlay"]).size == (112, 112)


def test_raw_body_is_accepted(client: TestClient, mnist_test: MnistSplit) -> None:
    response = client.post(
        "/predict/explain", content=png_bytes(mnist_test.images[2]), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == int(mnist_test.labels[2])


def test_blank_image_answers_the_reason_and_no_attribution(client: TestClient) -> None:
    blank = np.full((200, 200), 255, dtype=np.uint8)
    response = client.post("/predict/explain", files={"file": ("blank.png", png_bytes(blank), "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["digit"] is None
    assert body["reason"]
    assert body["attribution"] is None
    assert body["overlay"] is None
    assert body["target"] is None


@pytest.mark.parametrize(
    ("query", "files", "status", "detail"),
    [
        ("", {"file": ("x.png", b"", "image/png")}, 400, "empty file"),
        ("", {"file": ("x.txt", b"hello", "text/plain")}, 415, "unsupported media type"),
        ("", {"file": ("x.png", b"not an image", "image/png")}, 415, "not a readable image"),
        ("?target=10", None, 422, None),
        ("?scale=0", None, 422, None),
        ("?preprocess=fancy", None, 422, None),
    ],
)
def test_bad_requests(
    client: TestClient,
    mnist_test: MnistSplit,
    query: str,
    files: dict[str, tuple[str, bytes, str]] | None,
    status: int,
    detail: str | None,
) -> None:
    files = files or {"file": ("d.png", png_bytes(mnist_test.images[0]), "image/png")}
    response = client.post(f"/predict/explain{query}", files=files)
    assert response.status_code == status, response.text
    if detail:
        assert detail in response.json()["detail"]


def test_batch_is_refused(client: TestClient, mnist_test: MnistSplit) -> None:
    files = [("files", (f"{i}.png", png_bytes(mnist_test.images[i]), "image/png")) for i in range(2)]
    response = client.post("/predict/explain", files=files)
    assert response.status_code == 422
    assert "one image" in response.json()["detail"]


def test_no_file_is_a_422_naming_it(client: TestClient) -> None:
    response = client.post("/predict/explain", data={"other": "x"}, files={"x": ("", b"", "text/plain")})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "file"]


def test_runs_on_a_batcher_thread_not_the_event_loop(
    client: TestClient, mnist_test: MnistSplit, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def recording(loaded: ServedModel, pixels: NDArray[np.uint8], target: int, scale: int) -> Explanation:
        seen.append(threading.current_thread().name)
        return explain(loaded, pixels, target, scale)

    monkeypatch.setattr(inference, "explain", recording)
    response = client.post("/predict/explain", files={"file": ("d.png", png_bytes(mnist_test.images[0]), "image/png")})
    assert response.status_code == 200
    assert len(seen) == 1
    assert seen[0].startswith("predict-large-")  # the slow lane's workers (app/core/lanes.py)


def test_in_the_openapi_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/predict/explain"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ExplanationPublic"}
    properties = schema["components"]["schemas"]["ExplanationPublic"]["properties"]
    assert {"digit", "probabilities", "attribution", "overlay", "target", "frame"} <= set(properties)
    assert {p["name"] for p in operation["parameters"]} == {"preprocess", "target", "scale"}
