"""Response bodies, named by role, with examples for the OpenAPI page."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_PROBS_EXAMPLE: list[JsonValue] = [0.0001, 0.0002, 0.0003, 0.0004, 0.0001, 0.0002, 0.0001, 0.9978, 0.0003, 0.0005]


class DigitPublic(BaseModel):
    """One digit of a number (segment=true), left to right."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {"box": [12, 30, 96, 150], "digit": 4, "confidence": 0.993, "probabilities": _PROBS_EXAMPLE}
        }
    )

    box: list[int] = Field(
        min_length=4, max_length=4, description="left, top, right, bottom in the uploaded image's pixels."
    )
    digit: int | None = Field(ge=0, le=9, description="The digit read; null when this piece is not a digit.")
    confidence: float | None = Field(ge=0, le=1, description="Calibrated probability of that digit; null with `digit`.")
    probabilities: list[float] = Field(min_length=10, max_length=10, description="Calibrated softmax over 0-9.")
    reason: str | None = Field(None, description="Why `digit` is null.")


class PredictionPublic(BaseModel):
    """The model's answer for one image."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "digit": 7,
                "confidence": 0.9978,
                "probabilities": _PROBS_EXAMPLE,
                "model": "cnn-v1",
                "framed": False,
            }
        }
    )

    digit: int | None = Field(
        ge=0,
        le=9,
        description=(
            "Most probable digit; null when the image holds no digit (blank) or is not a digit (see `reason`)."
        ),
    )
    confidence: float | None = Field(
        ge=0,
        le=1,
        description=(
            "Probability of that digit, calibrated (temperature scaling fitted on held-back MNIST digits); "
            "null with `digit`."
        ),
    )
    probabilities: list[float] | None = Field(
        min_length=10,
        max_length=10,
        description=(
            "Calibrated softmax over digits 0-9. Null for a blank image; kept when the model refuses the "
            "image as not a digit, so a client can still see them."
        ),
    )
    model: str = Field(description="Id of the model that answered.")
    framed: bool = Field(
        description="Whether the image was framed like MNIST (photo, drawing) or went to the model as it was."
    )
    reason: str | None = Field(
        None,
        description=(
            "Why `digit` is null: a blank canvas or plain paper (`probabilities` null), or "
            "'not a digit: ...' when the model finds the image unlike any handwritten digit."
        ),
    )
    warning: str | None = Field(
        None,
        description=(
            "Present when the image seems to hold several digits side by side (with a gap between them): "
            "the top-level answer reads it as one; send segment=true to read each."
        ),
    )
    digits: list[DigitPublic] | None = Field(
        None,
        description="With segment=true: each digit-sized piece of ink read on its own, left to right. Where "
        "the ink leaves the cut in doubt (a wide 0, a 1 touching its neighbour), the model reads it both "
        "ways and the reading it is surer of is answered.",
    )
    frame: str | None = Field(
        None, description="With return_frame=true: the 28x28 image the model saw, as a base64 PNG."
    )


class ImageErrorPublic(BaseModel):
    """A batch image that could not be answered; the other images of the batch are answered anyway."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"status": 415, "detail": "file 2 (notes.txt): not a readable image"}}
    )

    status: int = Field(ge=400, le=499, description="The status this image alone would have got.")
    detail: str = Field(description="What is wrong with this image.")


class BatchPredictionPublic(BaseModel):
    """One result per uploaded file, in upload order: a prediction, or an error for that file alone.

    The request is 200 whenever the batch itself is sound; refusals of the whole request (malformed
    multipart, too many files, more pixels than the decode budget) keep their own status.
    """

    model: str = Field(description="Id of the model that answered all images.")
    predictions: list[PredictionPublic | ImageErrorPublic]


class ErrorPublic(BaseModel):
    """Every error answer has this shape (422 validation errors list their fields in `detail`)."""

    detail: str | list[Any]


class EpochPublic(BaseModel):
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


class ModelPublic(BaseModel):
    """What is being served and how it was made."""

    id: str
    architecture: dict[str, Any] = Field(description="Name and constructor arguments.")
    preprocessing: dict[str, Any] = Field(description="Input size and normalisation constants.")
    classes: list[str]
    test_accuracy: float | None = Field(description="Accuracy on the 10k MNIST test split.")
    test_loss: float | None
    hyperparameters: dict[str, Any]
    epochs: int = Field(description="Epochs trained.")
    final_epoch: EpochPublic | None = Field(description="Metrics of the last epoch.")
    history: list[EpochPublic]
    created: str | None
    calibration: dict[str, Any] | None = Field(
        None,
        description=(
            "Temperature dividing the logits and the energy threshold above which an image is answered "
            "'not a digit', with the figures they were fitted on (`python -m training calibrate`)."
        ),
    )


class HealthPublic(BaseModel):
    status: str = Field(examples=["ok"])
    pid: int = Field(description="The server process that answered (DIGITS_WORKERS may run several).")


class ReadyPublic(BaseModel):
    status: str = Field(examples=["ready"])
    model: str = Field(examples=["cnn-v1"])
    pid: int = Field(description="The server process that answered; `model` is the one it serves.")
    degraded: dict[str, str] = Field(
        default_factory=dict,
        description="Parts that are down while predictions go on (e.g. `jobs`: a damaged job database), and why.",
    )
