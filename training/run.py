"""One training run end to end: data, fit, artifact, plot. Called by the CLI and by server jobs."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import torch
from torch import nn

from training.artifact_format import CLASSES, CLASSES_WITH_REJECT, new_model_id, write_atomic
from training.artifacts import LoadedModel, load_artifact, save_artifact
from training.calibrate_cli import calibration_metadata, validation_split
from training.calibration import VAL_SIZE
from training.config import TrainConfig
from training.loop import BatchCallback, EpochCallback, TrainResult, fit, split_train_val
from training.mnist import MnistSplit, load_split
from training.plots import plot_path, render_history_png
from training.preprocessing import REFERENCE


def build_metadata(config: TrainConfig, result: TrainResult, model_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": model_id,
        "architecture": {"name": config.arch, "kwargs": config.model_kwargs()},
        "preprocessing": REFERENCE.to_dict(),
        "classes": CLASSES_WITH_REJECT if config.nondigits else CLASSES,
        "hyperparameters": config.hyperparameters(),
        "seed": config.seed,
        "history": [m.to_dict() for m in result.history],
        "test": {"accuracy": result.test_accuracy, "loss": result.test_loss},
        "data": {
            "train_fingerprint": result.train_fingerprint,
            "train_size": result.train_size,
            "val_size": result.val_size,
            "rendered": config.rendered,
            "nondigits": config.nondigits,
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


def served_frames(config: TrainConfig, train: MnistSplit, cache_dir: Path | None) -> MnistSplit | None:
    """The config's rendered digits and non-digits, framed as the server frames them (cached on disk).

    The digits are drawn from the training part only (never the validation images), picked by seed.
    """
    if not (config.rendered or config.nondigits):
        return None
    from training.synth.bank import load_or_build_bank  # rendering needs nothing of this at serving time

    fit_part, _ = split_train_val(train, config)
    picked = np.sort(np.random.default_rng(config.seed).permutation(len(fit_part))[: config.rendered])
    bank = load_or_build_bank(
        cache_dir or Path("runs") / "cache",
        fit_part.images[picked],
        fit_part.labels[picked],
        nondigit_count=config.nondigits,
        seed=config.seed,
        processes=max(1, config.threads),
    )
    return MnistSplit(bank.images, bank.labels.astype(np.uint8))


def _reference(path: str, role: str) -> tuple[LoadedModel, dict[str, Any]]:
    """An artifact this run builds on (ROLE names it in errors), and what the new metadata says of it."""
    loaded = load_artifact(path)
    if loaded.normalization != REFERENCE:
        raise ValueError(f"{role} {path} normalises its input differently from this run")
    return loaded, {"id": loaded.id, "test_accuracy": loaded.metadata["test"]["accuracy"]}


def load_teacher(config: TrainConfig) -> tuple[nn.Module | None, dict[str, Any] | None]:
    """The teacher network and what the student's metadata says of it, or (None, None)."""
    if config.teacher is None:
        return None, None
    teacher, summary = _reference(config.teacher, "the teacher")
    return teacher.model, summary


def load_start(config: TrainConfig) -> tuple[dict[str, torch.Tensor] | None, dict[str, Any] | None]:
    """The weights to start from and what the new metadata says of them, or (None, None)."""
    if config.init is None:
        return None, None
    start, summary = _reference(config.init, "the starting point")
    architecture = start.metadata["architecture"]
    if architecture != {"name": config.arch, "kwargs": config.model_kwargs()}:
        raise ValueError(f"{config.init} is not a {config.arch} with the settings this run trains: {architecture}")
    return start.model.state_dict(), summary


def run_training(
    config: TrainConfig,
    data_dir: Path,
    out: Path,
    on_epoch_end: EpochCallback | None = None,
    on_batch_end: BatchCallback | None = None,
    model_id: str | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Train, then write OUT (.safetensors), its .json and its .png; returns the metadata.

    CACHE_DIR keeps the framed renderings between runs (default runs/cache).
    """
    teacher, teacher_summary = load_teacher(config)
    start, start_summary = load_start(config)
    train, test = load_split(data_dir, "train"), load_split(data_dir, "test")
    extra = served_frames(config, train, cache_dir)
    result = fit(
        config,
        train,
        test,
        on_epoch_end=on_epoch_end,
        on_batch_end=on_batch_end,
        extra=extra,
        teacher=teacher,
        start=start,
    )
    now = datetime.now(UTC)
    metadata = build_metadata(config, result, model_id or new_model_id(config.arch, now), now)
    if teacher_summary is not None:
        metadata["data"]["teacher"] = teacher_summary
    if start_summary is not None:
        metadata["data"]["init"] = start_summary
    if not config.validate_on_test and config.val_size == VAL_SIZE:
        metadata["calibration"] = calibration_metadata(result.model, REFERENCE, validation_split(train))
    # Plot first: the JSON sidecar is the commit point, so a crash before it leaves no half artifact.
    write_atomic(plot_path(out), render_history_png(result.history, title=metadata["id"]))
    return save_artifact(result.model, metadata, out)
