"""One training run end to end: data, fit, artifact, plot. Called by the CLI and by server jobs."""

from __future__ import annotations

import platform
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import torch

from training.artifacts import CLASSES, save_artifact, write_atomic
from training.calibrate_cli import calibration_metadata, validation_split
from training.calibration import VAL_SIZE
from training.config import MODEL_KWARGS, TrainConfig
from training.loop import BatchCallback, EpochCallback, TrainResult, fit
from training.mnist import load_split
from training.plots import plot_path, render_history_png
from training.preprocessing import REFERENCE


def new_model_id(arch: str, now: datetime) -> str:
    return f"{arch}-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def build_metadata(config: TrainConfig, result: TrainResult, model_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": model_id,
        "architecture": {"name": config.arch, "kwargs": MODEL_KWARGS[config.arch]},
        "preprocessing": REFERENCE.to_dict(),
        "classes": CLASSES,
        "hyperparameters": config.hyperparameters(),
        "seed": config.seed,
        "history": [m.to_dict() for m in result.history],
        "test": {"accuracy": result.test_accuracy, "loss": result.test_loss},
        "data": {
            "train_fingerprint": result.train_fingerprint,
            "train_size": result.train_size,
            "val_size": result.val_size,
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "safetensors": safetensors.__version__,
        },
        "created": now.isoformat(timespec="seconds"),
        "training_seconds": round(sum(m.seconds for m in result.history), 2),
    }


def run_training(
    config: TrainConfig,
    data_dir: Path,
    out: Path,
    on_epoch_end: EpochCallback | None = None,
    on_batch_end: BatchCallback | None = None,
    model_id: str | None = None,
) -> dict[str, Any]:
    """Train, then write OUT (.safetensors), its .json and its .png; returns the metadata."""
    train, test = load_split(data_dir, "train"), load_split(data_dir, "test")
    result = fit(config, train, test, on_epoch_end=on_epoch_end, on_batch_end=on_batch_end)
    now = datetime.now(UTC)
    metadata = build_metadata(config, result, model_id or new_model_id(config.arch, now), now)
    if not config.validate_on_test and config.val_size == VAL_SIZE:
        metadata["calibration"] = calibration_metadata(result.model, REFERENCE, validation_split(train))
    # Plot first: the JSON sidecar is the commit point, so a crash before it leaves no half artifact.
    write_atomic(plot_path(out), render_history_png(result.history, title=metadata["id"]))
    return save_artifact(result.model, metadata, out)
