"""`python -m training calibrate MODEL...`: fit temperature and the not-a-digit threshold of artifacts.

Only the JSON sidecar is rewritten: the weights, and so their checksum, stay as they are. Training
runs call `calibration_metadata` as well, so every new artifact is calibrated when it is written
(on MNIST validation digits only).

The threshold must hold two promises: at most REFUSE_RATE of MNIST digits refused, and at most
REALWORLD_REFUSE_RATE of real-world digits. Framed photos and drawings sit further from MNIST than
MNIST's own digits, so the command also measures the energies of the **dev** split of the issue-9
kinds (never `final`) and takes whichever threshold is higher.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from torch import nn

from training import evalset
from training.artifact_format import ArtifactError, rewrite_metadata
from training.artifacts import LoadedModel, load_artifact, numpy_forward
from training.calibration import (
    DIGITS,
    VAL_SIZE,
    calibrate,
    expected_calibration_error,
    refusal_scores,
    softmax,
    threshold_refusing,
)
from training.mnist import MnistSplit, load_split
from training.preprocessing import Normalization, normalize, prepare_pixels

REALWORLD_REFUSE_RATE = 0.01  # the issue allows 1% of real-world digits refused

log = logging.getLogger("training")
Outputs = NDArray[np.float32]


def outputs_of(model: nn.Module, pixels: NDArray[np.uint8], norm: Normalization, batch_size: int = 1000) -> Outputs:
    """The network's outputs for uint8 frames, in batches."""
    model.eval()
    forward = numpy_forward(model)
    return np.concatenate(
        [forward(normalize(pixels[i : i + batch_size], norm)) for i in range(0, len(pixels), batch_size)]
    )


def logits_of(model: nn.Module, split: MnistSplit, norm: Normalization, batch_size: int = 1000) -> Outputs:
    return outputs_of(model, split.images, norm, batch_size)


def validation_split(train: MnistSplit) -> MnistSplit:
    """The last VAL_SIZE training images: what training.loop holds out unless told to validate on test."""
    cut = len(train) - VAL_SIZE
    return MnistSplit(train.images[cut:], train.labels[cut:])


def calibration_metadata(model: nn.Module, norm: Normalization, validation: MnistSplit) -> dict[str, Any]:
    """The `calibration` entry of an artifact's metadata, fitted on the validation split."""
    fitted, report = calibrate(logits_of(model, validation, norm), validation.labels.astype(np.int64))
    return {**fitted.to_dict(), **report}


def realworld_outputs(loaded: LoadedModel, per_kind: int, data_dir: Path) -> Outputs:
    """The network's outputs for the dev-split issue-9 digits that the framing answers (blanks have none)."""
    frames = []
    for kind in evalset.KINDS:
        for sample in evalset.generate(kind, per_kind, split="dev", mnist_dir=data_dir):
            prepared = prepare_pixels(sample.image(), "auto")
            if not prepared.blank:
                frames.append(prepared.pixels)
    return outputs_of(loaded.model, np.stack(frames), loaded.normalization)


def _run(args: argparse.Namespace) -> int:
    train, test = load_split(args.data_dir, "train"), load_split(args.data_dir, "test")
    validation = validation_split(train)
    for path in args.models:
        loaded = load_artifact(path)
        hyper = loaded.metadata.get("hyperparameters", {})
        if hyper.get("validate_on_test") or hyper.get("val_size", VAL_SIZE) != VAL_SIZE:
            raise ArtifactError(f"{path}: not trained with the last {VAL_SIZE} training images held out")
        entry = calibration_metadata(loaded.model, loaded.normalization, validation)
        key = "reject_threshold" if loaded.rejects else "energy_threshold"
        if args.realworld_per_kind:
            outputs = realworld_outputs(loaded, args.realworld_per_kind, args.data_dir)
            dev = refusal_scores(outputs, entry["temperature"])
            dev_threshold = threshold_refusing(dev, REALWORLD_REFUSE_RATE)
            entry |= {
                f"mnist_{key}": entry[key],
                f"realworld_dev_{key}": dev_threshold,
                "realworld_dev_images": len(dev),
                key: max(entry[key], dev_threshold),
            }
            val_scores = refusal_scores(logits_of(loaded.model, validation, loaded.normalization), entry["temperature"])
            entry["validation_refused"] = float(np.mean(val_scores > entry[key]))
        logits = logits_of(loaded.model, test, loaded.normalization)[:, :DIGITS]
        labels = test.labels.astype(np.int64)
        test_before = expected_calibration_error(softmax(logits), labels)
        test_after = expected_calibration_error(softmax(logits, entry["temperature"]), labels)
        entry |= {"test_ece_before": test_before, "test_ece_after": test_after}
        rewrite_metadata(path, {"calibration": entry})
        log.info(
            "%s: T=%.4f %s=%.4f; ECE (15 bins) validation %.4f -> %.4f, MNIST test %.4f -> %.4f",
            path,
            entry["temperature"],
            key,
            entry[key],
            entry["validation_ece_before"],
            entry["validation_ece_after"],
            test_before,
            test_after,
        )
    return 0


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], data_dir: Path) -> None:
    cmd = commands.add_parser(
        "calibrate", help="fit temperature and the not-a-digit energy threshold; rewrites only the JSON sidecar"
    )
    cmd.add_argument("models", nargs="+", type=Path, help="artifacts (.safetensors)")
    cmd.add_argument("--data-dir", type=Path, default=data_dir)
    cmd.add_argument(
        "--realworld-per-kind",
        type=int,
        default=100,
        help="dev-split images per issue-9 kind whose energies also bound the threshold (0: MNIST only)",
    )
    cmd.set_defaults(handler=_run)
