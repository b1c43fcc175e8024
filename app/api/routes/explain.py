"""POST /predict/explain: the prediction, and which pixels of the frame pushed the model towards it."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import Field

from app.api.deps import ModelDep
from app.api.errors import error_responses
from app.api.predict_http import FRAME_SCALE_DEFAULT, FRAME_SCALE_MAX, prediction_body
from app.api.routes.predict import REQUEST_BODY, PreprocessQuery
from app.api.uploads import read_uploads
from app.core.imaging import ImageRejectedError
from app.core.inference import Job
from app.core.lanes import Lanes
from app.schemas import PredictionPublic

router = APIRouter(tags=["predict"])

_ATTRIBUTION_DECIMALS = 4


class ExplanationPublic(PredictionPublic):
    """The prediction with its attribution (integrated gradients from an empty frame, via Captum)."""

    target: int | None = Field(ge=0, le=9, description="The digit explained; null when the image holds no digit.")
    attribution: list[list[float]] | None = Field(
        description=(
            "28x28 rows of signed attributions towards `target`, scaled so the largest magnitude is 1: "
            "positive pixels pushed towards the digit, negative ones away from it."
        )
    )
    overlay: str | None = Field(
        description="Base64 PNG: the frame in grey with positive attribution in orange, negative in blue."
    )
    frame: str | None = Field(description="The 28x28 image the model saw, as a base64 PNG.")


@router.post(
    "/predict/explain",
    summary="Why the model answered what it did",
    response_model=ExplanationPublic,
    responses=error_responses(400, 413, 415, 422, 503),
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def explain(
    request: Request,
    loaded: ModelDep,
    preprocess: PreprocessQuery = "auto",
    target: Annotated[int | None, Query(ge=0, le=9, description="Digit to explain; default the predicted one.")] = None,
    scale: Annotated[
        int, Query(ge=1, le=FRAME_SCALE_MAX, description="Enlarge each overlay pixel to scale x scale.")
    ] = FRAME_SCALE_DEFAULT,
) -> ExplanationPublic:
    """Integrated gradients of the answer with respect to the 28x28 frame, as an array and a PNG overlay.

    Send one image, as for /predict. A blank image answers `digit: null` with its `reason`, and no attribution.
    """
    settings = request.app.state.settings
    uploads, is_batch = read_uploads(request.headers.get("content-type", ""), await request.body(), settings)
    if is_batch:
        raise HTTPException(422, "send one image as `file` or as the body")
    [upload] = uploads
    if isinstance(upload, ImageRejectedError):  # only a batch answers such an error per image
        raise HTTPException(upload.status_code, upload.detail)
    lanes: Lanes = request.app.state.lanes
    # The slow lane runs one request at a time, so an explanation never delays a batch of drawings.
    job = Job(upload, loaded, preprocess, frame_scale=1, explain_scale=scale, explain_target=target)
    [outcome] = await lanes.slow.submit([job])
    if isinstance(outcome, ImageRejectedError):
        raise HTTPException(outcome.status_code, outcome.detail)
    body = prediction_body(outcome, loaded.id)
    explanation = outcome.explanation
    return ExplanationPublic(
        **{
            **body,
            # float32 values in their shortest form, as /predict writes them
            "confidence": None if outcome.confidence is None else float(str(outcome.confidence)),
            "probabilities": None if outcome.probabilities is None else [float(str(p)) for p in outcome.probabilities],
        },
        target=explanation.target if explanation else None,
        attribution=explanation.attribution.round(_ATTRIBUTION_DECIMALS).tolist() if explanation else None,
        overlay=base64.b64encode(explanation.overlay_png).decode() if explanation else None,
    )
