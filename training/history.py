"""One epoch's figures: what training reports, jobs record and the server plots (no torch needed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
