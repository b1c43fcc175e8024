from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_tiny_artifact
from training.artifact_format import ArtifactError, metadata_path
from training.artifacts import load_artifact, predict_probabilities
from training.runtime import load_served

Loader = Callable[[Path], object]


@pytest.fixture(params=[load_artifact, load_served], ids=["torch", "served"])
def load(request: pytest.FixtureRequest) -> Loader:
    """Both loaders refuse the same artifacts: training's (torch) and the server's (ONNX Runtime)."""
    loader: Loader = request.param
    return loader


@pytest.mark.parametrize("arch", ["mlp", "cnn", "compact"])
def test_round_trip_gives_identical_outputs(tmp_path: Path, arch: str) -> None:
    path = write_tiny_artifact(tmp_path / f"{arch}.safetensors", arch=arch, seed=3)
    torch.manual_seed(3)
    from training.config import MODEL_KWARGS
    from training.models import build_model

    original = build_model(arch, MODEL_KWARGS[arch]).eval()
    loaded = load_artifact(path)
    batch = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded.model(batch), original(batch))
    assert loaded.id == f"tiny-{arch}-3"
    assert not loaded.model.training
    probabilities = predict_probabilities(loaded, batch)
    assert np.allclose(probabilities.sum(axis=1), np.ones(8), atol=1e-6)


def test_save_leaves_no_temp_files(tiny_model: Path) -> None:
    assert sorted(p.name for p in tiny_model.parent.iterdir()) == ["tiny.json", "tiny.safetensors"]
    assert tiny_model.stat().st_mode & 0o777 == 0o644  # readable by a server running as another user


def test_tampered_weights_are_refused(tiny_model: Path, load: Loader) -> None:
    blob = bytearray(tiny_model.read_bytes())
    blob[-1] ^= 0xFF
    tiny_model.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="do not match the checksum"):
        load(tiny_model)


def test_missing_metadata_is_refused(tiny_model: Path, load: Loader) -> None:
    metadata_path(tiny_model).unlink()
    with pytest.raises(ArtifactError, match="metadata file missing"):
        load(tiny_model)


def test_missing_weights_are_refused(tmp_path: Path, load: Loader) -> None:
    with pytest.raises(ArtifactError, match="model file not found"):
        load(tmp_path / "nothing.safetensors")


def _edit_metadata(path: Path, **changes: object) -> None:
    meta_file = metadata_path(path)
    metadata = json.loads(meta_file.read_text())
    metadata.update(changes)
    meta_file.write_text(json.dumps(metadata))


def test_unknown_format_version_is_refused(tiny_model: Path, load: Loader) -> None:
    _edit_metadata(tiny_model, format_version=99)
    with pytest.raises(ArtifactError, match="unknown format version 99"):
        load(tiny_model)


def test_foreign_json_is_refused(tiny_model: Path, load: Loader) -> None:
    metadata_path(tiny_model).write_text('{"hello": "world"}')
    with pytest.raises(ArtifactError, match="not a digit-service/model metadata file"):
        load(tiny_model)


def test_tensors_not_matching_architecture_are_refused(tiny_model: Path, load: Loader) -> None:
    _edit_metadata(tiny_model, architecture={"name": "mlp", "kwargs": {"in_features": 784, "hidden": [100, 65]}})
    with pytest.raises(ArtifactError, match=r"tensor net\.1\.weight is \(125, 784\)"):
        load(tiny_model)


def test_other_architecture_is_refused(tiny_model: Path, load: Loader) -> None:
    _edit_metadata(tiny_model, architecture={"name": "cnn", "kwargs": {}})
    with pytest.raises(ArtifactError, match="tensors do not match architecture"):
        load(tiny_model)


def test_unknown_preprocessing_is_refused(tiny_model: Path, load: Loader) -> None:
    _edit_metadata(tiny_model, preprocessing={"size": 32, "mean": 0.5, "std": 0.5})
    with pytest.raises(ArtifactError, match="unsupported input size 32"):
        load(tiny_model)


def test_safetensors_file_is_not_pickle(tiny_model: Path) -> None:
    header_len = int.from_bytes(tiny_model.read_bytes()[:8], "little")
    header = json.loads(tiny_model.read_bytes()[8 : 8 + header_len])
    assert "net.1.weight" in header
