"""Phone photos as phones write them, under the default limits: 48 megapixels, more than 16 MiB, HEIC."""

from __future__ import annotations

import io
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.core.config import Settings
from app.main import create_app
from tests.api.test_predict_realworld import sample_files
from tests.conftest import DATA_DIR, SERVED_MODEL

MIB = 1024 * 1024


@pytest.fixture
def default_client(tmp_path: Path, fast_path: bool) -> Iterator[TestClient]:
    """The shipped limits: only the paths differ from a plain `python -m app`."""
    settings = Settings(model=SERVED_MODEL, state_dir=tmp_path / "state", data_dir=DATA_DIR)
    with TestClient(create_app(settings, fast_path=fast_path)) as client:
        yield client


def photo(size: tuple[int, int], index: int = 0) -> tuple[Image.Image, int]:
    """A sample photo of a handwritten digit, enlarged to SIZE with sensor-like noise on top."""
    path, label = sample_files("photos")[index]
    image = np.asarray(Image.open(path).convert("RGB").resize(size, Image.Resampling.BILINEAR), dtype=np.int16)
    noise = np.random.default_rng(index).normal(0, 6, image.shape[:2] + (1,)).astype(np.int16)
    return Image.fromarray(np.clip(image + noise, 0, 255).astype(np.uint8)), label


@cache
def big_jpeg() -> tuple[bytes, int]:
    image, label = photo((8000, 6000))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue(), label


def test_a_48_megapixel_jpeg_over_16_mib_is_read(default_client: TestClient) -> None:
    data, label = big_jpeg()
    assert len(data) > 16 * MIB
    response = default_client.post("/predict", files={"file": ("IMG_0001.jpg", data, "image/jpeg")})
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == label
    assert response.json()["framed"] is True


def test_a_decompression_bomb_is_still_refused_before_decoding(default_client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")  # 100 megapixels in a few kB
    response = default_client.post("/predict", files={"file": ("bomb.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 413
    assert (
        response.json()["detail"] == "file 0 (bomb.png): image is 10000x10000 pixels, more than the limit of 50000000"
    )


@cache
def heic_photo() -> tuple[bytes, int]:
    """Written by libheif's encoder (x265), as an iPhone writes it; encoding is slow, so once."""
    image, label = photo((640, 480), index=3)
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=85)
    return buffer.getvalue(), label


def test_an_iphone_heic_photo_is_read(default_client: TestClient) -> None:
    data, label = heic_photo()
    assert data[4:12] == b"ftypheic"
    response = default_client.post("/predict", files={"file": ("IMG_0002.HEIC", data, "image/heic")})
    assert response.status_code == 200, response.text
    assert response.json()["digit"] == label
    raw = default_client.post("/predict", content=data, headers={"content-type": "image/heic"})
    assert raw.json()["digit"] == label


def test_heic_pixel_limit_applies_before_decoding(tmp_path: Path) -> None:
    data, _ = heic_photo()
    settings = Settings(model=SERVED_MODEL, state_dir=tmp_path, data_dir=DATA_DIR, max_image_pixels=300_000)
    with TestClient(create_app(settings)) as client:
        response = client.post("/predict", files={"file": ("big.heic", data, "image/heic")})
    assert response.status_code == 413
    assert "640x480 pixels, more than the limit of 300000" in response.json()["detail"]
