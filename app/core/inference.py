"""decode -> preprocess -> predict for a list of uploads, run on an inference worker thread."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.imaging import ImageRejectedError, decode_image
from training.artifacts import LoadedModel, predict_probabilities
from training.preprocessing import normalize, resize_to_input, to_grayscale


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Prediction:
    digit: int
    confidence: float
    probabilities: list[float]


class UploadRejectedError(ImageRejectedError):
    """An ImageRejectedError that names which upload of a request failed."""

    def __init__(self, index: int, upload: Upload, cause: ImageRejectedError) -> None:
        name = f" ({upload.filename})" if upload.filename else ""
        super().__init__(cause.status_code, f"file {index}{name}: {cause.detail}")


def upload_to_pixels(upload: Upload, loaded: LoadedModel, max_pixels: int) -> np.ndarray:
    image = decode_image(upload.data, max_pixels)
    return resize_to_input(to_grayscale(image), loaded.normalization.size)


def predict_uploads(loaded: LoadedModel, uploads: list[Upload], max_pixels: int) -> list[Prediction]:
    """Decode every upload (failing on the first bad one), then one forward pass for all."""
    frames = []
    for index, upload in enumerate(uploads):
        try:
            frames.append(upload_to_pixels(upload, loaded, max_pixels))
        except ImageRejectedError as exc:
            raise UploadRejectedError(index, upload, exc) from None
    probabilities = predict_probabilities(loaded, normalize(np.stack(frames), loaded.normalization))
    confidence, digits = probabilities.max(dim=1)
    return [
        Prediction(digit=int(d), confidence=float(c), probabilities=p)
        for d, c, p in zip(digits.tolist(), confidence.tolist(), probabilities.tolist(), strict=True)
    ]
