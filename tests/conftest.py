"""Shared fixtures: paths, the MNIST test split, tiny seeded artifacts, an app client."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from PIL import Image

from app.core.config import PROJECT_ROOT, Settings
from app.main import create_app
from app.storage.database import Database
from tests.backends import BACKENDS, backend_url, opened
from training import evalset
from training.artifact_format import CLASSES, CLASSES_WITH_REJECT
from training.artifacts import save_artifact
from training.config import MODEL_KWARGS
from training.mnist import MnistSplit, load_split
from training.models import build_model
from training.preprocessing import REFERENCE

DATA_DIR = (PROJECT_ROOT.parent / "shared" / "data" / "mnist").resolve()


@functools.cache
def dev_samples(subset: str, count: int) -> list[evalset.Sample]:
    """The first COUNT samples of an evaluation subset's dev split, generated once per test session."""
    return evalset.generate(subset, count, split="dev", mnist_dir=DATA_DIR)


MODELS_DIR = PROJECT_ROOT / "models"
SERVED_MODEL = MODELS_DIR / "compact.safetensors"
CNN_LARGE_MODEL = MODELS_DIR / "cnn-large.safetensors"  # the default before issue 12
MLP_MODEL = MODELS_DIR / "mlp.safetensors"


@pytest.fixture(scope="session")
def mnist_test() -> MnistSplit:
    return load_split(DATA_DIR, "test")


def png_bytes(pixels: NDArray[np.uint8], mode: str = "L", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


def write_tiny_artifact(path: Path, arch: str = "mlp", seed: int = 0, rejects: bool = False) -> Path:
    """A seeded, untrained model in the real artifact format: cheap and exact.

    REJECTS: with the eleventh, not-a-digit output.
    """
    torch.manual_seed(seed)
    kwargs = {**MODEL_KWARGS[arch], "classes": 11 if rejects else 10}
    model = build_model(arch, kwargs).eval()
    metadata = {
        "id": f"tiny-{arch}-{seed}",
        "architecture": {"name": arch, "kwargs": kwargs},
        "preprocessing": REFERENCE.to_dict(),
        "classes": CLASSES_WITH_REJECT if rejects else CLASSES,
        "hyperparameters": {},
        "seed": seed,
        "history": [],
        "test": {"accuracy": None, "loss": None},
        "created": "2026-01-01T00:00:00+00:00",
    }
    save_artifact(model, metadata, path)
    return path


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_tiny_artifact(tmp_path / "tiny.safetensors")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(model=SERVED_MODEL, state_dir=tmp_path / "state", data_dir=DATA_DIR, inference_workers=2)


@pytest.fixture(params=[True, False], ids=["fast-path", "router"])
def fast_path(request: pytest.FixtureRequest) -> bool:
    """/predict is served by PredictFastPath; the router's route must answer the same."""
    return bool(request.param)


@pytest.fixture
def client(settings: Settings, fast_path: bool) -> Iterator[TestClient]:
    with TestClient(create_app(settings, fast_path=fast_path)) as test_client:
        yield test_client


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each backend in turn: the embedded SQLite file, then a fresh PostgreSQL database."""
    with backend_url(str(request.param), tmp_path) as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    with opened(database_url) as db:
        yield db
