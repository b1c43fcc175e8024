"""POST /predict: one image or a batch, as multipart or as the raw body."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from app.api.deps import ExecutorDep, ModelDep, SettingsDep
from app.api.errors import error_responses
from app.api.uploads import read_uploads
from app.core.imaging import ImageRejectedError
from app.core.inference import Prediction, predict_uploads
from app.schemas import BatchPredictionPublic, PredictionPublic

router = APIRouter(tags=["predict"])

_binary = {"type": "string", "format": "binary"}
REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": (
        "Multipart with `file` (one image) or `files` (up to DIGITS_MAX_FILES images, default 64); "
        "or the image itself as the body with its image Content-Type. PNG, JPEG, BMP, GIF, WebP, TIFF."
    ),
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {**_binary, "description": "One image; the answer is a single prediction."},
                    "files": {"type": "array", "items": _binary, "description": "Several images; one answer each."},
                },
            }
        },
        **{media: {"schema": _binary} for media in ("image/png", "image/jpeg", "application/octet-stream")},
    },
}


def _public(prediction: Prediction, model_id: str) -> PredictionPublic:
    return PredictionPublic(
        digit=prediction.digit,
        confidence=prediction.confidence,
        probabilities=prediction.probabilities,
        model=model_id,
    )


@router.post(
    "/predict",
    summary="Recognise the digit in an image",
    response_model=PredictionPublic | BatchPredictionPublic,
    responses=error_responses(400, 413, 415, 422, 503),
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def predict(
    request: Request, loaded: ModelDep, settings: SettingsDep, executor: ExecutorDep
) -> PredictionPublic | BatchPredictionPublic:
    """Grayscale, resize to 28x28, normalise as in training, and return softmax probabilities.

    A `file` upload or a raw body answers one prediction; `files` answers a list in upload order.
    """
    uploads, is_batch = await read_uploads(request, settings)
    loop = asyncio.get_running_loop()
    try:
        predictions = await loop.run_in_executor(executor, predict_uploads, loaded, uploads, settings.max_image_pixels)
    except ImageRejectedError as exc:
        raise HTTPException(exc.status_code, exc.detail) from None
    if is_batch:
        return BatchPredictionPublic(model=loaded.id, predictions=[_public(p, loaded.id) for p in predictions])
    return _public(predictions[0], loaded.id)
