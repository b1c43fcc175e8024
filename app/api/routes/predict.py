"""POST /predict and /predict/frame, as the docs page shows them.

Requests normally reach these endpoints through app.api.predict_http.PredictFastPath, which skips
the router; these routes call the same `answer()` and serve when the app is built without it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.api.errors import error_responses
from app.api.predict_http import FRAME_SCALE_DEFAULT, FRAME_SCALE_MAX, answer
from app.schemas import BatchPredictionPublic, PredictionPublic
from training.preprocessing import PreprocessMode

router = APIRouter(tags=["predict"])

_binary = {"type": "string", "format": "binary"}
_RAW_BODY = {media: {"schema": _binary} for media in ("image/png", "image/jpeg", "application/octet-stream")}
_FILE = {**_binary, "description": "One image; the answer is a single prediction."}
REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": (
        "Multipart with `file` (one image) or `files` (up to DIGITS_MAX_FILES images, default 64; at least one "
        "image in all, else 422); "
        "or the image itself as the body with its image Content-Type. PNG, JPEG, HEIC, BMP, GIF, WebP, TIFF."
    ),
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": _FILE,
                    "files": {
                        "type": "array",
                        "items": _binary,
                        "description": (
                            "Several images; one answer each, in upload order (a prediction, or an error for "
                            "that image alone). A `file` sent as well joins the batch."
                        ),
                    },
                },
            }
        },
        **_RAW_BODY,
    },
}
FRAME_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": "One image: multipart `file`, or the image itself as the body with its image Content-Type.",
    "content": {
        # No `required` (422 without it), as on /predict: see tests/contract/schemathesis.toml.
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": _FILE}}},
        **_RAW_BODY,
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


async def _reply(request: Request, frame_endpoint: bool) -> Response:
    content_type = request.headers.get("content-type", "")
    reply = await answer(request.app, content_type, request.url.query, await request.body(), frame_endpoint)
    return Response(reply.body, status_code=reply.status, media_type=reply.media_type)


@router.post(
    "/predict",
    summary="Recognise the digit in an image",
    response_model=PredictionPublic | BatchPredictionPublic,
    responses=error_responses(400, 413, 415, 422, 503),
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def predict(
    request: Request, preprocess: PreprocessQuery = "auto", return_frame: ReturnFrameQuery = False
) -> Any:
    """Frame the digit if needed, normalise as in training, and return softmax probabilities.

    A `file` upload or a raw body answers one prediction; `files` answers a list in upload order.
    An image with no digit on it (blank canvas, plain paper) answers `digit: null` with a `reason`.
    """
    return await _reply(request, frame_endpoint=False)


@router.post(
    "/predict/frame",
    summary="See the 28x28 image the model sees",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "The frame, enlarged `scale` times."},
        **error_responses(400, 413, 415, 422, 503),
    },
    openapi_extra={"requestBody": FRAME_REQUEST_BODY},
)
async def predict_frame(
    request: Request,
    preprocess: PreprocessQuery = "auto",
    scale: Annotated[
        int, Query(ge=1, le=FRAME_SCALE_MAX, description="Enlarge each pixel to scale x scale.")
    ] = FRAME_SCALE_DEFAULT,
) -> Response:
    """The same preprocessing as /predict, answered as a PNG image (send one image)."""
    return await _reply(request, frame_endpoint=True)
