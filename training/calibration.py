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
import torch
import torch.nn.functional as F  # noqa: N812
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


def energy(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Negative log-sum-exp of the tempered logits: higher means less like the training digits."""
    return -torch.logsumexp(logits / temperature, dim=1)


def not_a_digit_log_odds(outputs: torch.Tensor) -> torch.Tensor:
    """log P(not a digit) - log P(any digit) from a network with the eleventh class (no temperature:
    T only reshapes the digits' probabilities among themselves)."""
    return outputs[:, DIGITS] - torch.logsumexp(outputs[:, :DIGITS], dim=1)


def refusal_scores(outputs: torch.Tensor, temperature: float) -> torch.Tensor:
    """What a refusal threshold is compared with: the not-a-digit log-odds when the network has that
    class, else the energy of the tempered logits."""
    return not_a_digit_log_odds(outputs) if outputs.shape[1] > DIGITS else energy(outputs, temperature)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T); a convex problem in log T."""
    logits, labels = logits.detach().double(), labels.detach()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return float(np.clip(math.exp(float(log_t.detach())), *_T_RANGE))


def threshold_refusing(scores: NDArray[np.float32], refuse_rate: float = REFUSE_RATE) -> float:
    """The refusal score (energy, or not-a-digit log-odds) above which at most `refuse_rate` of these
    in-distribution scores lie."""
    ordered = np.sort(scores.astype(np.float64))
    keep = math.ceil(len(ordered) * (1 - refuse_rate))  # the keep-th lowest energy is still answered
    return float(ordered[min(len(ordered), max(1, keep)) - 1])


def expected_calibration_error(
    probabilities: NDArray[np.float32], labels: NDArray[np.int64], bins: int = ECE_BINS
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


def calibrate(outputs: torch.Tensor, labels: torch.Tensor) -> tuple[Calibration, dict[str, Any]]:
    """Fit T and the refusal threshold on the network's outputs for validation digits; also return
    the figures to record. With the not-a-digit class, its log-odds are thresholded instead of energy."""
    logits = outputs[:, :DIGITS]
    temperature = fit_temperature(logits, labels)
    scores = refusal_scores(outputs.double(), temperature).float().numpy()
    threshold = threshold_refusing(scores)
    if outputs.shape[1] > DIGITS:
        threshold = max(0.0, threshold)
        fitted = Calibration(temperature, reject_threshold=threshold)
    else:
        fitted = Calibration(temperature, energy_threshold=threshold)
    labels_np = labels.numpy()
    before = expected_calibration_error(torch.softmax(logits, 1).numpy(), labels_np)
    after = expected_calibration_error(torch.softmax(logits.double() / temperature, 1).numpy(), labels_np)
    report = {
        "fitted_on": f"the last {len(labels)} MNIST training images (the validation split)",
        "validation_nll_before": float(F.cross_entropy(logits.double(), labels)),
        "validation_nll_after": float(F.cross_entropy(logits.double() / temperature, labels)),
        "validation_ece_before": before,
        "validation_ece_after": after,
        "validation_refused": float(np.mean(scores > threshold)),
    }
    return fitted, report
