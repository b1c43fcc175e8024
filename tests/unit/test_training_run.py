from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from tests.conftest import DATA_DIR
from training.artifacts import load_artifact
from training.cli import main
from training.config import TrainConfig
from training.history import EpochMetrics
from training.loop import fit, split_train_val
from training.mnist import MnistSplit, load_split


@pytest.fixture(scope="module")
def train_split() -> MnistSplit:
    return load_split(DATA_DIR, "train")


def test_cli_smoke_run_writes_artifact_with_one_epoch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "smoke.safetensors"
    caplog.set_level(logging.INFO, logger="training")
    code = main(
        [
            "--arch",
            "mlp",
            "--epochs",
            "1",
            "--train-limit",
            "2000",
            "--batch-size",
            "50",
            "--data-dir",
            str(DATA_DIR),
            "--out",
            str(out),
            "--lr",
            "1e-3",
        ]
    )
    assert code == 0
    metadata = json.loads(out.with_suffix(".json").read_text())
    (record,) = metadata["history"]
    assert set(record) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"}
    assert record["epoch"] == 1
    assert 0 < record["train_accuracy"] <= 1
    assert 0 < record["val_accuracy"] <= 1
    assert record["train_loss"] > 0
    assert record["seconds"] > 0
    assert metadata["data"]["train_size"] == 2000
    assert metadata["data"]["val_size"] == 5000
    assert metadata["preprocessing"] == {"size": 28, "mean": 0.5, "std": 0.5}
    assert metadata["hyperparameters"]["learning_rate"] == 1e-3
    assert metadata["data"]["train_fingerprint"].startswith("sha256:")
    assert 0.5 < metadata["test"]["accuracy"] <= 1  # 40 steps: far above chance (0.1)
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("epoch 1/1" in message for message in caplog.messages)
    assert load_artifact(out).id == metadata["id"]
    caplog.clear()
    assert main(["evaluate", str(out), "--data-dir", str(DATA_DIR)]) == 0
    assert any(f"test_accuracy={metadata['test']['accuracy']:.4f}" in m for m in caplog.messages)


def test_cli_reports_bad_data_dir_as_one_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["--epochs", "1", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert any("train-images-idx3-ubyte" in m and "not found" in m for m in caplog.messages)
    assert not (tmp_path / "x.safetensors").exists()


def test_fit_is_seeded_and_calls_back_every_epoch(train_split: MnistSplit) -> None:
    test = load_split(DATA_DIR, "test").head(500)
    config = TrainConfig.for_arch("mlp", epochs=2, train_limit=300, learning_rate=1e-3, val_size=500, threads=1)
    seen: list[EpochMetrics] = []
    first = fit(config, train_split, test, on_epoch_end=seen.append)
    second = fit(config, train_split, test)
    assert [m.epoch for m in seen] == [1, 2]
    assert seen == first.history
    assert [m.train_loss for m in first.history] == [m.train_loss for m in second.history]
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name])


def test_validation_is_held_out_from_training(train_split: MnistSplit) -> None:
    fit_part, val_part = split_train_val(train_split, TrainConfig(val_size=5000))
    assert val_part is not None
    assert len(fit_part) == 55000
    assert len(val_part) == 5000
    assert (val_part.images == train_split.images[55000:]).all()
    on_test, none = split_train_val(train_split, TrainConfig(validate_on_test=True, train_limit=10))
    assert none is None
    assert len(on_test) == 10


def test_augment_keeps_shape_and_background(train_split: MnistSplit) -> None:
    from training.augment import augment_batch
    from training.loop import Tensors

    batch = Tensors.from_split(train_split.head(64)).inputs
    out = augment_batch(batch, torch.Generator().manual_seed(0))
    assert out.shape == batch.shape
    assert not torch.equal(out, batch)
    assert float(out[:, :, 0, 0].mean()) == pytest.approx(-1.0, abs=1e-5)  # corners stay background


def test_cli_default_output_never_touches_committed_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--epochs", "1", "--train-limit", "100", "--data-dir", str(DATA_DIR)]) == 0
    (written,) = (tmp_path / "runs").glob("mlp-*.safetensors")
    assert load_artifact(written).metadata["data"]["train_size"] == 100
    assert not (tmp_path / "models").exists()


def test_training_on_served_frames_learns_the_not_a_digit_class(tmp_path: Path) -> None:
    """--rendered / --nondigits: framed renderings of training digits and generated non-digits join
    the training data, the artifact gets the eleventh class, and the bank is cached for the next run."""
    from training.run import run_training

    config = TrainConfig.for_arch(
        "mlp", epochs=1, train_limit=500, learning_rate=1e-3, rendered=40, nondigits=24, threads=1
    )
    cache = tmp_path / "cache"
    metadata = run_training(config, DATA_DIR, tmp_path / "m.safetensors", cache_dir=cache)
    assert metadata["classes"][-1] == "not a digit"
    assert metadata["architecture"]["kwargs"]["classes"] == 11
    assert metadata["data"]["rendered"] == 40
    assert metadata["data"]["nondigits"] == 24
    assert metadata["calibration"]["reject_threshold"] >= 0
    assert metadata["calibration"]["energy_threshold"] is None
    loaded = load_artifact(tmp_path / "m.safetensors")
    assert loaded.rejects
    [bank] = list(cache.glob("*.npz"))
    cached_at = bank.stat().st_mtime_ns
    run_training(config, DATA_DIR, tmp_path / "again.safetensors", cache_dir=cache)
    assert [p.stat().st_mtime_ns for p in cache.glob("*.npz")] == [cached_at]  # read back, not rebuilt
