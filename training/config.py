"""Training hyper-parameters, with per-architecture defaults."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Arch = Literal["mlp", "cnn", "compact"]
Schedule = Literal["constant", "cosine"]

# Constructor arguments are stored in every artifact so the loader can rebuild the network.
MODEL_KWARGS: dict[str, dict[str, Any]] = {
    "mlp": {"in_features": 784, "hidden": [125, 65], "classes": 10},
    "cnn": {"channels": [32, 64], "hidden": 128, "dropout": 0.3, "classes": 10},
    "compact": {"channels": [16, 32, 64, 128, 112], "dropout": 0.1, "classes": 10, "separable_down": True},
}

# mlp: the tutorial's hyper-parameters. cnn: chosen to pass 99.3% in a few CPU epochs.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": {"epochs": 15, "learning_rate": 1e-4, "batch_size": 100, "schedule": "constant"},
    "cnn": {"epochs": 8, "learning_rate": 2e-3, "batch_size": 128, "schedule": "cosine"},
    "compact": {
        "epochs": 15,
        "learning_rate": 4e-3,
        "batch_size": 128,
        "schedule": "cosine",
        "augment": True,
        "rendered": 20_000,
        "nondigits": 8_000,
    },
}


@dataclass(frozen=True)
class TrainConfig:
    arch: Arch = "mlp"
    epochs: int = 15
    learning_rate: float = 1e-4
    batch_size: int = 100
    seed: int = 0
    schedule: Schedule = "constant"
    train_limit: int | None = None
    val_size: int = 5000
    validate_on_test: bool = False
    augment: bool = False
    # Train on what is served too (issue 9): this many MNIST training digits drawn as photos, scans and
    # canvas strokes (training.synth) and framed by the server's own code, plus this many generated
    # non-digits as an eleventh class, "not a digit".
    rendered: int = 0
    nondigits: int = 0
    # Knowledge distillation (issue 12): a bigger artifact's softened answers on the MNIST training
    # digits join the labels, so a small network learns which digits the big one finds alike.
    teacher: str | None = None
    distill_weight: float = 0.5
    distill_temperature: float = 3.0
    # Serve an exponential moving average of the weights (decay per step) instead of the last step's.
    ema: float | None = None
    # Start from this artifact's weights (same architecture) instead of a fresh initialisation.
    init: str | None = None
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)

    def __post_init__(self) -> None:
        if not 0 <= self.distill_weight <= 1 or self.distill_temperature <= 0:
            raise ValueError("the distillation weight must be in [0, 1] and its temperature above 0")
        if self.ema is not None and not 0 < self.ema < 1:
            raise ValueError(f"ema must be between 0 and 1, got {self.ema}")

    @classmethod
    def for_arch(cls, arch: Arch, **overrides: Any) -> TrainConfig:
        """The architecture's defaults, with any non-None override applied."""
        base = cls(arch=arch, **_DEFAULTS[arch])
        return replace(base, **{key: value for key, value in overrides.items() if value is not None})

    @property
    def classes(self) -> int:
        return 11 if self.nondigits else 10

    def model_kwargs(self) -> dict[str, Any]:
        """The constructor arguments stored in the artifact."""
        return {**MODEL_KWARGS[self.arch], "classes": self.classes}

    def hyperparameters(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("threads")  # affects speed, not the result's meaning
        if self.teacher is None:
            for unused in ("teacher", "distill_weight", "distill_temperature"):
                values.pop(unused)
        for optional in ("ema", "init"):
            if values[optional] is None:
                values.pop(optional)
        return values
