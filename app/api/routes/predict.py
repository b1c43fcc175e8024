"""POST /predict (and /predict/frame): one image or a batch, as multipart or as the raw body."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response

from app.api.deps import LanesDep, ModelDep, SettingsDep
from app.api.errors import error_responses
from app.api.uploads import read_uploads
from app.core.imaging import ImageRejectedError
from app.core.inference import Job, Prediction, Upload
from app.core.lanes import Lanes
from app.schemas import BatchPredictionPublic, PredictionPublic
from training.artifacts import LoadedModel
from training.preprocessing import PreprocessMode

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
PreprocessQuery = Annotated[
    PreprocessMode,
    Query(
        description=(
            "`auto`: MNIST-like 28x28 light-on-dark images go straight to the model, anything else (photos, "
            "drawings, dark ink on paper) is framed like MNIST first. `mnist`: always frame. `raw`: only "
            "grayscale, resize to 28x28 and normalise."
        )
    ),
]
ReturnFrameQuery = Annotated[
    bool, Query(description="Also return the 28x28 image the model saw, as a base64 PNG in `frame`.")
]


def _public(prediction: Prediction, model_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "digit": prediction.digit,
        "confidence": prediction.confidence,
        "probabilities": prediction.probabilities,
        "model": model_id,
        "framed": prediction.framed,
    }
    if prediction.reason is not None:
        body["reason"] = prediction.reason
    if prediction.frame_png is not None:
        body["frame"] = base64.b64encode(prediction.frame_png).decode()
    return body


async def _run(
    uploads: list[Upload], loaded: LoadedModel, lanes: Lanes, mode: PreprocessMode, frame_scale: int
) -> list[Prediction]:
    jobs = [Job(upload, loaded, mode, frame_scale) for upload in uploads]
    outcomes = await lanes.for_uploads(uploads).submit(jobs)
    for index, (upload, outcome) in enumerate(zip(uploads, outcomes, strict=True)):
        if isinstance(outcome, ImageRejectedError):
            name = f" ({upload.filename})" if upload.filename else ""
            raise HTTPException(outcome.status_code, f"file {index}{name}: {outcome.detail}")
    return outcomes  # type: ignore[return-value]


@router.post(
    "/predict",
    summary="Recognise the digit in an image",
    response_model=PredictionPublic | BatchPredictionPublic,
    responses=error_responses(400, 413, 415, 422, 503),
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def predict(
    request: Request,
    loaded: ModelDep,
    settings: SettingsDep,
    lanes: LanesDep,
    preprocess: PreprocessQuery = "auto",
    return_frame: ReturnFrameQuery = False,
) -> Response:
    """Frame the digit if needed, normalise as in training, and return softmax probabilities.

    A `file` upload or a raw body answers one prediction; `files` answers a list in upload order.
    An image with no digit on it (blank canvas, plain paper) answers `digit: null` with a `reason`.
    """
    uploads, is_batch = await read_uploads(request, settings)
    predictions = await _run(uploads, loaded, lanes, preprocess, 1 if return_frame else 0)
    if is_batch:
        body: dict[str, Any] = {"model": loaded.id, "predictions": [_public(p, loaded.id) for p in predictions]}
    else:
        body = _public(predictions[0], loaded.id)
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


@router.post(
    "/predict/frame",
    summary="See the 28x28 image the model sees",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "The frame, enlarged `scale` times."},
        **error_responses(400, 413, 415, 422, 503),
    },
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def predict_frame(
    request: Request,
    loaded: ModelDep,
    settings: SettingsDep,
    lanes: LanesDep,
    preprocess: PreprocessQuery = "auto",
    scale: Annotated[int, Query(ge=1, le=32, description="Enlarge each pixel to scale x scale.")] = 10,
) -> Response:
    """The same preprocessing as /predict, answered as a PNG image (send one image)."""
    uploads, is_batch = await read_uploads(request, settings)
    if is_batch:
        raise HTTPException(422, "send one image as `file` or as the body")
    (prediction,) = await _run(uploads, loaded, lanes, preprocess, scale)
    assert prediction.frame_png is not None
    return Response(prediction.frame_png, media_type="image/png")
