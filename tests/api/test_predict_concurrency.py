"""Hundreds of concurrent requests: batching never mixes up answers, and a bad image fails alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.core.config import Settings
from app.main import create_app
from tests.conftest import DATA_DIR, MLP_MODEL, png_bytes
from training.artifacts import load_artifact, predict_probabilities
from training.loop import Tensors
from training.mnist import MnistSplit

REQUESTS = 300


async def fire(client: httpx.AsyncClient, index: int, data: bytes, batch: bool) -> httpx.Response:
    field = "files" if batch else "file"
    return await client.post("/predict", files=[(field, (f"{index}.png", data, "image/png"))])


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "router"])
def test_concurrent_requests_each_get_their_own_answer(tmp_path: Path, mnist_test: MnistSplit, fast_path: bool) -> None:
    sample = mnist_test.head(REQUESTS)
    expected = predict_probabilities(load_artifact(MLP_MODEL), Tensors.from_split(sample).inputs).argmax(1).tolist()
    bad = set(range(7, REQUESTS, 23))  # every 23rd request sends a truncated image
    settings = Settings(model=MLP_MODEL, state_dir=tmp_path, data_dir=DATA_DIR, inference_workers=2)
    app = create_app(settings, fast_path=fast_path)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            requests = [
                fire(c, i, png_bytes(image)[:-40] if i in bad else png_bytes(image), batch=i % 2 == 1)
                for i, image in enumerate(sample.images)
            ]
            return await asyncio.gather(*requests)

    responses = asyncio.run(run())
    for index, response in enumerate(responses):
        batch = index % 2 == 1
        if index in bad and not batch:
            assert response.status_code == 400, response.text
            assert "truncated or corrupt" in response.json()["detail"]
            continue
        assert response.status_code == 200, response.text  # a batch answers per image
        body = response.json()
        prediction = body["predictions"][0] if batch else body
        if index in bad:
            assert prediction["status"] == 400
            assert "truncated or corrupt" in prediction["detail"]
            continue
        assert prediction["digit"] == expected[index], index
    stats = app.state.lanes.fast.stats
    assert stats.requests == REQUESTS
    assert stats.batches < REQUESTS  # requests really were gathered into shared batches
    assert stats.largest > 1
    refused = {i for i in bad if i % 2 == 0}
    assert float(np.mean([r.status_code == 200 for r in responses])) == 1 - len(refused) / REQUESTS
