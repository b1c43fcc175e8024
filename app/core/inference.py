"""decode -> preprocess -> predict for a batch of images, run on a batcher's worker thread."""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from app.core.explain import Explanation, explain
from app.core.imaging import ImageRejectedError, load_image, open_image
from training.artifacts import LoadedModel, predict_probabilities
from training.preprocessing import PreparedInput, PreprocessMode, normalize, prepare_pixels


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Job:
    """One image to recognise, with the model the request started on."""

    upload: Upload
    loaded: LoadedModel
    mode: PreprocessMode = "auto"
    frame_scale: int = 0  # 0: no frame; n: return the 28x28 frame as PNG, each pixel n x n
    explain_scale: int = 0  # 0: no explanation; n: attribute the answer, overlay enlarged n x n
    explain_target: int | None = None  # the digit to explain; None: the predicted one
    opened: Image.Image | None = None  # the upload's header, already read and checked (imaging.open_image)


@dataclass(frozen=True)
class Prediction:
    digit: int | None  # None: the image holds no digit (see reason)
    # float32 as the model computed them: serialised with their shortest float32 repr (0.9978,
    # not 0.9977999925613403), which is also what the client parses back.
    confidence: np.float32 | None
    probabilities: NDArray[np.float32] | None
    reason: str | None
    framed: bool
    frame_png: bytes | None
    explanation: Explanation | None = None


Outcome = Prediction | ImageRejectedError


def prepare_upload(
    upload: Upload, mode: PreprocessMode, max_pixels: int, opened: Image.Image | None = None
) -> PreparedInput:
    image = opened if opened is not None else open_image(upload.data, max_pixels)
    return prepare_pixels(load_image(image), mode)


def frame_png(pixels: NDArray[np.uint8], scale: int = 1) -> bytes:
    """The 28x28 frame the model saw, as PNG, optionally enlarged with visible pixels."""
    image = Image.fromarray(pixels)
    if scale > 1:
        image = image.resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def process_jobs(jobs: list[Job], max_pixels: int) -> list[Outcome]:
    """Prepare every image (a bad one fails alone), then one forward pass per model in the batch."""
    prepared: list[PreparedInput | ImageRejectedError] = []
    for job in jobs:
        try:
            prepared.append(prepare_upload(job.upload, job.mode, max_pixels, job.opened))
        except ImageRejectedError as exc:
            prepared.append(exc)
    # Requests that started before a hot swap keep their model, so a batch can span two models.
    by_model: dict[int, list[int]] = defaultdict(list)
    for index, (job, item) in enumerate(zip(jobs, prepared, strict=True)):
        if isinstance(item, PreparedInput) and not item.blank:
            by_model[id(job.loaded)].append(index)
    probabilities: dict[int, NDArray[np.float32]] = {}
    for indices in by_model.values():
        loaded = jobs[indices[0]].loaded
        pixels = np.stack([prepared[i].pixels for i in indices])  # type: ignore[union-attr]
        rows = predict_probabilities(loaded, normalize(pixels, loaded.normalization)).numpy()
        probabilities.update(zip(indices, rows, strict=True))
    outcomes: list[Outcome] = []
    for index, (job, item) in enumerate(zip(jobs, prepared, strict=True)):
        if isinstance(item, ImageRejectedError):
            outcomes.append(item)
            continue
        frame = frame_png(item.pixels, job.frame_scale) if job.frame_scale else None
        probs = probabilities.get(index)
        if probs is None:
            outcomes.append(Prediction(None, None, None, item.reason, item.framed, frame))
            continue
        best = int(probs.argmax())
        explanation = None
        if job.explain_scale:
            target = best if job.explain_target is None else job.explain_target
            explanation = explain(job.loaded, item.pixels, target, job.explain_scale)
        outcomes.append(Prediction(best, probs[best], probs, None, item.framed, frame, explanation))
    return outcomes
