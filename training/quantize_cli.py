"""`python -m training quantize MODEL...`: record the int8 form of artifacts, if it answers as the float one.

Measures each quantized activation's range on MNIST validation digits (the held-out end of the
training split, as `calibrate` uses), then answers the whole MNIST test set with the float and the
int8 network. Only if the int8 test accuracy is within MAX_ACCURACY_LOSS points of float and the two
agree on at least MIN_AGREEMENT of the digits (read and refused alike) is the "int8" entry written to
the JSON sidecar; the weights, and so their checksum, stay as they are. DIGITS_INT8 serves it.
Whether int8 is also faster is the benchmark's question (`python -m bench.inference_cost`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from training import quantize
from training.artifact_format import rewrite_metadata
from training.artifacts import LoadedModel, load_artifact, score_batch
from training.calibrate_cli import validation_split
from training.mnist import MnistSplit, load_split
from training.preprocessing import normalize

MAX_ACCURACY_LOSS = 0.05  # points of MNIST test accuracy (the bound)
MIN_AGREEMENT = 0.999  # share of test digits answered the same (digit and refusal)
CALIBRATION_IMAGES = 1000

log = logging.getLogger("training")


def answers(
    loaded: LoadedModel, split: MnistSplit, batch_size: int = 1000
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """The digit each image is read as, and whether it is refused, as serving decides them."""
    digits, refused = [], []
    for start in range(0, len(split), batch_size):
        scores = score_batch(loaded, normalize(split.images[start : start + batch_size], loaded.normalization))
        digits.append(scores.logits.argmax(1))
        refused.append(scores.refused)
    return np.concatenate(digits), np.concatenate(refused)


def int8_record(loaded: LoadedModel, calibration: MnistSplit, test: MnistSplit) -> dict[str, Any]:
    """Calibrate, quantize and compare with float on TEST: the sidecar's "int8" entry, with its figures."""
    ranges = quantize.calibrate(loaded.model, torch.from_numpy(normalize(calibration.images, loaded.normalization)))
    int8 = dataclasses.replace(loaded, quantized=quantize.quantize(loaded.model, ranges))
    labels = test.labels.astype(np.int64)
    (float_digits, float_refused), (int8_digits, int8_refused) = answers(loaded, test), answers(int8, test)
    same = (float_digits == int8_digits) & (float_refused == int8_refused)
    return {
        "engine": quantize.ENGINE,
        "torch": torch.__version__,
        "calibration_images": len(calibration),
        "activations": quantize.ranges_to_json(ranges),
        "float_test_accuracy": float(np.mean(float_digits == labels)),
        "test_accuracy": float(np.mean(int8_digits == labels)),
        "agreement": float(np.mean(same)),
    }


def acceptable(record: dict[str, Any]) -> str | None:
    """Why this int8 form must not be served, or None if it may."""
    loss = 100 * (record["float_test_accuracy"] - record["test_accuracy"])
    if loss > MAX_ACCURACY_LOSS:
        return f"int8 loses {loss:.2f} points of test accuracy (at most {MAX_ACCURACY_LOSS} allowed)"
    if record["agreement"] < MIN_AGREEMENT:
        return f"int8 answers {100 * record['agreement']:.2f}% of test digits as float does (at least 99.9% needed)"
    return None


def _run(args: argparse.Namespace) -> int:
    train, test = load_split(args.data_dir, "train"), load_split(args.data_dir, "test")
    calibration = validation_split(train).head(args.calibration_images)
    failed = 0
    for path in args.models:
        loaded = load_artifact(path)
        record = int8_record(loaded, calibration, test)
        figures = (
            f"test accuracy {100 * record['float_test_accuracy']:.2f}% float, {100 * record['test_accuracy']:.2f}% "
            f"int8; {100 * record['agreement']:.2f}% of test digits answered alike"
        )
        refusal = acceptable(record)
        if refusal is not None:
            log.error("%s: not recorded: %s (%s)", path, refusal, figures)
            failed += 1
            continue
        rewrite_metadata(path, {"int8": record})
        log.info("%s: int8 form recorded (%d activation ranges): %s", path, len(record["activations"]), figures)
    return 1 if failed else 0


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], data_dir: Path) -> None:
    cmd = commands.add_parser(
        "quantize", help="record an artifact's int8 form if it keeps the test accuracy; rewrites only the JSON sidecar"
    )
    cmd.add_argument("models", nargs="+", type=Path, help="artifacts (.safetensors)")
    cmd.add_argument("--data-dir", type=Path, default=data_dir)
    cmd.add_argument("--calibration-images", type=int, default=CALIBRATION_IMAGES)
    cmd.set_defaults(handler=_run)
