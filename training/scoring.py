"""Where a network's outputs become answers: calibrated probabilities and "not a digit".

The one place for serving (ONNX Runtime, training.runtime) and evaluation (torch,
training.artifacts.score_batch) alike; numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from training.artifact_format import CLASSES
from training.calibration import Calibration, refusal_scores, softmax


@dataclass(frozen=True)
class Scores:
    """The model's answer for a batch: calibrated probabilities and which images it refuses."""

    logits: NDArray[np.float32]  # (N, 10): the digits' logits, as the network computed them
    probabilities: NDArray[np.float32]  # (N, 10), softmax of logits / T
    refusal: NDArray[np.float64]  # (N,): what the threshold is compared with (calibration.refusal_scores)
    refusal_threshold: float | None  # None: nothing is refused
    refused: NDArray[np.bool_]  # (N,): refusal above its threshold ("not a digit")


def score_outputs(outputs: NDArray[np.floating[Any]], calibration: Calibration, rejects: bool) -> Scores:
    """Answers for a network's (N, 10) or (N, 11) outputs.

    A model with the not-a-digit class (REJECTS) refuses an image when that class's log-odds against
    all the digits exceed the calibrated threshold (0, an even bet, when none is recorded); any
    other model refuses on the energy score.
    """
    logits = np.ascontiguousarray(outputs[:, : len(CLASSES)], dtype=np.float32)
    probabilities = softmax(logits, calibration.temperature).astype(np.float32)
    refusal = refusal_scores(outputs, calibration.temperature)
    if rejects:
        threshold: float | None = calibration.reject_threshold if calibration.reject_threshold is not None else 0.0
    else:
        threshold = calibration.energy_threshold
    refused = refusal > threshold if threshold is not None else np.zeros(len(refusal), dtype=np.bool_)
    return Scores(logits, probabilities, refusal, threshold, refused)
