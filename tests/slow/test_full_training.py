"""Full-data training runs: minutes each, run with `pytest -m slow`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA_DIR
from training.config import TrainConfig
from training.run import run_training

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # the cnn alone takes ~10 minutes


def test_tuned_mlp_reaches_target(tmp_path: Path) -> None:
    config = TrainConfig.for_arch("mlp", epochs=30, learning_rate=1e-3, schedule="cosine")
    metadata = run_training(config, DATA_DIR, tmp_path / "mlp.safetensors")
    assert metadata["test"]["accuracy"] >= 0.975


def test_tutorial_hyperparameters_give_about_96_percent(tmp_path: Path) -> None:
    metadata = run_training(TrainConfig.for_arch("mlp"), DATA_DIR, tmp_path / "tutorial.safetensors")
    assert 0.95 <= metadata["test"]["accuracy"] <= 0.975


def test_cnn_reaches_target(tmp_path: Path) -> None:
    config = TrainConfig.for_arch("cnn", epochs=10, augment=True)
    metadata = run_training(config, DATA_DIR, tmp_path / "cnn.safetensors")
    assert metadata["test"]["accuracy"] >= 0.993
