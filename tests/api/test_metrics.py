from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.core.metrics import route_label
from tests.conftest import png_bytes
from training.mnist import MnistSplit


def sample(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
    assert match, f"{name}{{{labels}}} not in metrics"
    return float(match.group(1))


def test_metrics_count_requests_batches_and_model(client: TestClient, mnist_test: MnistSplit) -> None:
    for image in mnist_test.images[:3]:
        assert client.post("/predict", files={"file": ("d.png", png_bytes(image), "image/png")}).status_code == 200
    assert client.post("/predict", files={"file": ("e.png", b"", "image/png")}).status_code == 400
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert sample(text, "digits_http_requests_total", 'method="POST",route="/predict",status="200"') == 3
    assert sample(text, "digits_http_requests_total", 'method="POST",route="/predict",status="400"') == 1
    assert sample(text, "digits_http_request_duration_seconds_count", 'route="/predict"') == 4
    assert sample(text, "digits_http_request_duration_seconds_bucket", 'route="/predict",le="+Inf"') == 4
    # the empty file is refused from its header, before it reaches a lane
    assert sample(text, "digits_batched_requests_total", 'lane="small"') == 3
    model_id = client.get("/model").json()["id"]
    assert sample(text, "digits_model_info", f'model="{model_id}"') == 1
    rss = re.search(r'^process_resident_memory_bytes\{pid="\d+"\} (\d+)$', text, re.MULTILINE)
    assert rss
    assert int(rss.group(1)) > 50 * 2**20


def test_route_labels_do_not_grow_with_ids() -> None:
    assert route_label("/predict") == "/predict"
    assert route_label("/train/abc123") == "/train/{id}"
    assert route_label("/train/abc123/events") == "/train/{id}/events"
    assert route_label("/train/abc123/plot.png") == "/train/{id}/plot.png"
    assert route_label("/wp-admin/login.php") == "other"
