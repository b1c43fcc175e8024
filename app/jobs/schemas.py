"""Bodies of the /train endpoints."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt

from app.schemas import EpochPublic
from training.config import Arch, TrainConfig

# MNIST's 60k training images minus the 5k held out for validation.
MAX_TRAIN_IMAGES = 55_000
MAX_NONDIGITS = 50_000


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


def _whole_number(value: Any) -> Any:
    """JSON Schema's `integer` is any number without a fractional part, 1056.0 included (clients
    that only have doubles send that); other floats, strings and booleans stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Integers in the request schema are strict (no "3", no true), but 3.0 is 3. The bounds go before
# the validator so that the schema shows them as minimum/maximum.
WHOLE = BeforeValidator(_whole_number)


class TrainRequest(BaseModel):
    """A complete training request, as stored with the job: every hyper-parameter has its value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Arch
    epochs: Annotated[StrictInt, Field(ge=1, le=100)]
    learning_rate: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    batch_size: Annotated[StrictInt, Field(ge=1, le=4096)]
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
    train_limit: Annotated[StrictInt, Field(ge=1, le=MAX_TRAIN_IMAGES)] | None
    # Absent from jobs recorded before served-frame training: those trained on MNIST alone.
    rendered: Annotated[StrictInt, Field(ge=0, le=MAX_TRAIN_IMAGES)] = 0
    nondigits: Annotated[StrictInt, Field(ge=0, le=MAX_NONDIGITS)] = 0
    activate: StrictBool
    force_activate: StrictBool = False  # absent from jobs recorded before the quality gate


class TrainCreate(BaseModel):
    """Start a training run; omitted hyper-parameters take the architecture's defaults.

    Defaults: mlp 15 epochs, learning rate 1e-4, batch 100; cnn 8 epochs, 2e-3, batch 128 (cosine schedule);
    compact (the served default's architecture) 15 epochs, 4e-3, batch 128, cosine, augmented, with
    rendered training digits and generated non-digits. The training data is the server's
    DIGITS_DATA_DIR; a request cannot choose files.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"arch": "mlp", "epochs": 3, "learning_rate": 0.001, "batch_size": 100, "train_limit": 5000}
        },
    )

    arch: Arch = "mlp"
    epochs: Annotated[StrictInt, Field(ge=1, le=100), WHOLE] | None = None
    learning_rate: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | None = None
    batch_size: Annotated[StrictInt, Field(ge=1, le=4096), WHOLE] | None = None
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1), WHOLE] = 0
    train_limit: Annotated[StrictInt, Field(ge=1, le=MAX_TRAIN_IMAGES), WHOLE] | None = Field(
        None, description="Train on the first N images only (quick runs); default all 55,000."
    )
    rendered: Annotated[StrictInt, Field(ge=0, le=MAX_TRAIN_IMAGES), WHOLE] | None = Field(
        None,
        description="Also train on this many training digits drawn as photos, scans and canvas strokes and framed "
        "as uploads are (rendering takes about 10 ms each, cached); default: the architecture's (compact 20,000).",
    )
    nondigits: Annotated[StrictInt, Field(ge=0, le=MAX_NONDIGITS), WHOLE] | None = Field(
        None,
        description="And on this many generated non-digits, as an eleventh class: the model then answers "
        "'not a digit' by itself. Default: the architecture's (compact 8,000, others 0).",
    )
    activate: StrictBool = Field(
        True,
        description="Serve the new model once trained, if its test accuracy is at most DIGITS_ACTIVATION_TOLERANCE "
        "points below the live model's.",
    )
    force_activate: StrictBool = Field(False, description="With `activate`: serve it whatever its accuracy.")

    def resolve(self) -> TrainRequest:
        """Fill in the architecture's defaults, so the stored job says exactly what ran."""
        config = TrainConfig.for_arch(
            self.arch,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            rendered=self.rendered,
            nondigits=self.nondigits,
        )
        return TrainRequest(
            arch=config.arch,
            epochs=config.epochs,
            learning_rate=config.learning_rate,
            batch_size=config.batch_size,
            seed=self.seed,
            train_limit=self.train_limit,
            rendered=config.rendered,
            nondigits=config.nondigits,
            activate=self.activate,
            force_activate=self.force_activate,
        )


class JobPublic(BaseModel):
    """A training job: its request, progress so far and outcome."""

    id: str
    status: JobStatus
    status_url: str
    request: TrainRequest
    current_epoch: int = Field(description="Epochs finished so far.")
    total_epochs: int
    history: list[EpochPublic] = Field(description="Per-epoch metrics, in order, as each epoch ends.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    model_id: str | None = Field(description="The trained model's id, once the job succeeded.")
    test_accuracy: float | None = Field(description="The trained model's accuracy on the 10k test split.")
    activated: bool = Field(description="Whether the trained model was swapped into serving.")
    activation_note: str | None = Field(
        None, description="Why the model was or was not activated (the request, or the quality gate)."
    )
    error: str | None


class JobListPublic(BaseModel):
    """Jobs, newest first."""

    jobs: list[JobPublic]


class ConflictPublic(BaseModel):
    """409: another job is queued or running."""

    detail: str
    running_job_id: str
