"""Calibrated confidence and "not a digit": one temperature and one energy threshold per artifact.

Both are fitted on held-back data, never on the test split: the last VAL_SIZE MNIST training
images, which the training loop holds out for validation (training.loop.split_train_val).

- Temperature scaling (Guo et al., 2017): the logits are divided by one scalar T that minimises the
  negative log-likelihood of the validation labels. The argmax (the digit) never changes; only how
  sure the answer says it is.
- Energy score (Liu et al., 2020): E(x) = -logsumexp(logits / T). Inputs unlike the training data
  tend to get lower logits all round, so higher energy; an image whose energy is above the threshold
  is answered "not a digit". The threshold is the energy that refuses at most REFUSE_RATE of the
  validation digits.
- A model trained with an eleventh "not a digit" class refuses on that class's log-odds against all
  the digits instead; its threshold is the larger of 0 (an even bet) and the log-odds that refuses
  at most REFUSE_RATE of the validation digits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

VAL_SIZE = 5000
DIGITS = 10
ECE_BINS = 15
# At most this share of the validation digits is refused (the issue allows 0.2% of MNIST test).
REFUSE_RATE = 0.002
_T_RANGE = (0.05, 20.0)


class CalibrationError(ValueError):
    """Calibration metadata this code cannot honour."""


@dataclass(frozen=True)
class Calibration:
    """What an artifact's metadata says about its logits (absent: T = 1, nothing refused)."""

    temperature: float = 1.0
    energy_threshold: float | None = None
    reject_threshold: float | None = None  # models with the not-a-digit class: log-odds threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> Calibration:
        data = metadata.get("calibration")
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise CalibrationError(f"calibration must be an object, got {type(data).__name__}")
        temperature = data.get("temperature", 1.0)
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise CalibrationError(f"invalid temperature {temperature!r}")
        if not (math.isfinite(temperature) and _T_RANGE[0] <= temperature <= _T_RANGE[1]):
            raise CalibrationError(f"temperature {temperature!r} outside {_T_RANGE}")
        return cls(float(temperature), _threshold(data, "energy_threshold"), _threshold(data, "reject_threshold"))


def _threshold(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CalibrationError(f"invalid {key} {value!r}")
    return float(value)


Array = NDArray[np.floating[Any]]


def _logsumexp(values: Array) -> NDArray[np.float64]:
    values = values.astype(np.float64)
    peak = values.max(axis=1, keepdims=True)
    return (peak + np.log(np.exp(values - peak).sum(axis=1, keepdims=True)))[:, 0]  # type: ignore[no-any-return]


def energy(logits: Array, temperature: float) -> NDArray[np.float64]:
    """Negative log-sum-exp of the tempered logits: higher means less like the training digits."""
    return -_logsumexp(logits / temperature)


def not_a_digit_log_odds(outputs: Array) -> NDArray[np.float64]:
    """log P(not a digit) - log P(any digit) from a network with the eleventh class (no temperature:
    T only reshapes the digits' probabilities among themselves)."""
    return outputs[:, DIGITS].astype(np.float64) - _logsumexp(outputs[:, :DIGITS])


def refusal_scores(outputs: Array, temperature: float) -> NDArray[np.float64]:
    """What a refusal threshold is compared with: the not-a-digit log-odds when the network has that
    class, else the energy of the tempered logits."""
    return not_a_digit_log_odds(outputs) if outputs.shape[1] > DIGITS else energy(outputs, temperature)


def softmax(logits: Array, temperature: float = 1.0) -> NDArray[np.float64]:
    scaled = logits.astype(np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def negative_log_likelihood(logits: Array, labels: NDArray[np.integer[Any]], temperature: float = 1.0) -> float:
    scaled = logits.astype(np.float64) / temperature
    return float(np.mean(_logsumexp(scaled) - scaled[np.arange(len(labels)), labels]))


def fit_temperature(logits: Array, labels: NDArray[np.integer[Any]]) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T).

    The NLL is convex in 1 / T, so it is unimodal in log T: a golden-section search over the allowed
    range finds the minimum to far below any difference that matters.
    """
    low, high = math.log(_T_RANGE[0]), math.log(_T_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return negative_log_likelihood(logits, labels, math.exp(log_t))

    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    while high - low > 1e-6:
        if loss_a <= loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    return float(math.exp((low + high) / 2))


def threshold_refusing(scores: NDArray[np.floating[Any]], refuse_rate: float = REFUSE_RATE) -> float:
    """The refusal score (energy, or not-a-digit log-odds) above which at most `refuse_rate` of these
    in-distribution scores lie."""
    ordered = np.sort(scores.astype(np.float64))
    keep = math.ceil(len(ordered) * (1 - refuse_rate))  # the keep-th lowest energy is still answered
    return float(ordered[min(len(ordered), max(1, keep)) - 1])


def expected_calibration_error(
    probabilities: NDArray[np.floating[Any]], labels: NDArray[np.integer[Any]], bins: int = ECE_BINS
) -> float:
    """ECE: |accuracy - confidence| per equal-width confidence bin, weighted by the bin's share."""
    if len(labels) == 0:
        return 0.0
    confidence = probabilities.max(axis=1).astype(np.float64)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    # Bin b holds confidences in (b / bins, (b + 1) / bins]; the first bin also holds 0.
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def calibrate(outputs: Array, labels: NDArray[np.integer[Any]]) -> tuple[Calibration, dict[str, Any]]:
    """Fit T and the refusal threshold on the network's outputs for validation digits; also return
    the figures to record. With the not-a-digit class, its log-odds are thresholded instead of energy."""
    logits = outputs[:, :DIGITS]
    temperature = fit_temperature(logits, labels)
    scores = refusal_scores(outputs, temperature)  # float64, as serving computes them (training.scoring)
    threshold = threshold_refusing(scores)
    if outputs.shape[1] > DIGITS:
        threshold = max(0.0, threshold)
        fitted = Calibration(temperature, reject_threshold=threshold)
    else:
        fitted = Calibration(temperature, energy_threshold=threshold)
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, temperature), labels)
    report = {
        "fitted_on": f"the last {len(labels)} MNIST training images (the validation split)",
        "validation_nll_before": negative_log_likelihood(logits, labels),
        "validation_nll_after": negative_log_likelihood(logits, labels, temperature),
        "validation_ece_before": before,
        "validation_ece_after": after,
        "validation_refused": float(np.mean(scores > threshold)),
    }
    return fitted, report
