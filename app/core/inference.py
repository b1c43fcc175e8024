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
from training.preprocessing import PreparedInput, PreprocessMode, normalize, prepare_pixels
from training.runtime import ServedModel


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Job:
    """One image to recognise, with the model the request started on."""

    upload: Upload
    loaded: ServedModel
    mode: PreprocessMode = "auto"
    frame_scale: int = 0  # 0: no frame; n: return the 28x28 frame as PNG, each pixel n x n
    explain_scale: int = 0  # 0: no explanation; n: attribute the answer, overlay enlarged n x n
    explain_target: int | None = None  # the digit to explain; None: the predicted one
    opened: Image.Image | None = None  # the upload's header, already read and checked (imaging.open_image)
    segment: bool = False  # also read each digit-sized piece of ink on its own, left to right


@dataclass(frozen=True)
class Reading:
    """The model's answer for one 28x28 frame; `digit` is None when the model refuses it."""

    digit: int | None
    confidence: np.float32 | None
    probabilities: NDArray[np.float32]
    reason: str | None


@dataclass(frozen=True)
class PieceReading:
    box: tuple[int, int, int, int]  # left, top, right, bottom in the upload's pixels
    reading: Reading


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
    warning: str | None = None  # e.g. several digits in an image answered as one
    digits: tuple[PieceReading, ...] | None = None  # with segment=True: each digit, left to right


Outcome = Prediction | ImageRejectedError


def prepare_upload(
    upload: Upload, mode: PreprocessMode, max_pixels: int, opened: Image.Image | None = None, segment: bool = False
) -> PreparedInput:
    image = opened if opened is not None else open_image(upload.data, max_pixels)
    return prepare_pixels(load_image(image), mode, segment)


def refusal_reason(score: float, threshold: float, learned: bool) -> str:
    """LEARNED: the model's own not-a-digit class decided (its log-odds), else the energy score."""
    if learned:
        return (
            "not a digit: the model reads it as something other than a handwritten digit "
            f"(not-a-digit log-odds {score:.2f} above the threshold {threshold:.2f})"
        )
    return (
        "not a digit: the image is unlike the handwritten digits the model knows "
        f"(energy score {score:.2f} above the threshold {threshold:.2f}, fitted on held-back MNIST digits)"
    )


def several_digits_warning(count: int) -> str:
    return (
        f"the image seems to hold {count} digits side by side and was read as one; send segment=true to read each digit"
    )


def read_frames(loaded: ServedModel, frames: list[NDArray[np.uint8]]) -> list[Reading]:
    """One forward pass over 28x28 frames: calibrated probabilities, and "not a digit" above the threshold."""
    scores = loaded.score(normalize(np.stack(frames), loaded.normalization))
    threshold = scores.refusal_threshold
    readings = []
    for probs, score, refused in zip(
        scores.probabilities, scores.refusal.tolist(), scores.refused.tolist(), strict=True
    ):
        if refused and threshold is not None:
            readings.append(Reading(None, None, probs, refusal_reason(score, threshold, loaded.rejects)))
        else:
            best = int(probs.argmax())
            readings.append(Reading(best, probs[best], probs, None))
    return readings


def read_pieces(item: PreparedInput, readings: list[Reading]) -> tuple[PieceReading, ...]:
    """The digits of a number, left to right, each slot read the way the model is surer of."""
    confidences = [0.0 if reading.confidence is None else float(reading.confidence) for reading in readings]
    candidates = item.candidates
    return tuple(PieceReading(candidates[k].box, readings[k]) for k in item.choose_pieces(confidences))


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
            prepared.append(prepare_upload(job.upload, job.mode, max_pixels, job.opened, job.segment))
        except ImageRejectedError as exc:
            prepared.append(exc)
    # Requests that started before a hot swap keep their model, so a batch can span two models. Each
    # image contributes its frame (unless blank) and, with segment, the frame of each of its pieces.
    frames: dict[int, list[tuple[int, int, NDArray[np.uint8]]]] = defaultdict(list)  # model -> (image, piece)
    for index, (job, item) in enumerate(zip(jobs, prepared, strict=True)):
        if not isinstance(item, PreparedInput):
            continue
        own = [(index, k, piece.pixels) for k, piece in enumerate(item.candidates)]
        if not item.blank:
            own.insert(0, (index, -1, item.pixels))
        if own:
            frames[id(job.loaded)] += own
    readings: dict[tuple[int, int], Reading] = {}
    for batch in frames.values():
        loaded = jobs[batch[0][0]].loaded
        answers = read_frames(loaded, [pixels for _, _, pixels in batch])
        readings.update(((index, k), answer) for (index, k, _), answer in zip(batch, answers, strict=True))
    outcomes: list[Outcome] = []
    for index, (job, item) in enumerate(zip(jobs, prepared, strict=True)):
        if isinstance(item, ImageRejectedError):
            outcomes.append(item)
            continue
        frame = frame_png(item.pixels, job.frame_scale) if job.frame_scale else None
        warning = several_digits_warning(item.digits_seen) if item.digits_seen > 1 else None
        digits = read_pieces(item, [readings[index, k] for k in range(len(item.candidates))]) if job.segment else None
        reading = readings.get((index, -1))
        if reading is None:
            outcomes.append(Prediction(None, None, None, item.reason, item.framed, frame, None, warning, digits))
            continue
        explanation = None
        if job.explain_scale and reading.digit is not None:
            target = reading.digit if job.explain_target is None else job.explain_target
            explanation = explain(job.loaded, item.pixels, target, job.explain_scale)
        outcomes.append(
            Prediction(
                reading.digit,
                reading.confidence,
                reading.probabilities,
                reading.reason,
                item.framed,
                frame,
                explanation,
                warning,
                digits,
            )
        )
    return outcomes
