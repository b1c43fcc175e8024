"""The model registry: list, describe, download, activate (admin) and delete (admin) models."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, HTTPException, Response

from app.api.errors import error_responses
from app.api.jobs_deps import ADMIN, UNAVAILABLE, JobsDep
from app.api.registry_schemas import ModelDetailPublic, ModelEntryPublic
from app.jobs.manager import JobManager, ModelLiveError, ModelNotFoundError
from app.jobs.ports import ModelRecord
from app.schemas import ErrorPublic
from training.artifact_format import ArtifactError

router = APIRouter(prefix="/models", tags=["models"], responses=UNAVAILABLE)

# Real answers (copied from the service), so the docs page shows what a client will get.
_MODEL = "mlp-20261130T004211Z-9c1e0a"
NOT_FOUND = error_responses(404, e404=f"no model {_MODEL!r}; GET /models lists them")


def _conflict(description: str, detail: str) -> dict[int | str, dict[str, Any]]:
    example = {"application/json": {"example": {"detail": detail}}}
    return {409: {"model": ErrorPublic, "description": description, "content": example}}


_WEIGHTS = f"/srv/digits/state/models/{_MODEL}.safetensors: weights do not match the registered checksum"
CANNOT_LOAD = _conflict(
    "The model's weights fail to load (checksum, shapes); it stays inactive.",
    f"model {_MODEL} cannot be loaded, so it stays inactive: {_WEIGHTS}",
)
BAD_WEIGHTS = _conflict("The stored weights fail their checksum.", f"model {_MODEL}: {_WEIGHTS}")
LIVE = _conflict(
    "The live model cannot be deleted: activate another first.",
    f"model {_MODEL} is live; activate another model before deleting it",
)


class Part(StrEnum):
    ZIP = "zip"
    SAFETENSORS = "safetensors"
    JSON = "json"


def _find(jobs: JobManager, model_id: str) -> ModelRecord:
    try:
        return jobs.model(model_id)
    except ModelNotFoundError:
        raise HTTPException(404, f"no model {model_id!r}; GET /models lists them") from None


@router.get("", summary="List registered models")
def list_models(jobs: JobsDep) -> list[ModelEntryPublic]:
    """Every model the service knows, newest first; `live` marks the one it serves."""
    live = jobs.live_model_id()
    return [ModelEntryPublic.of(record, live) for record in jobs.models()]


@router.get("/{model_id}", summary="A registered model and its training history", responses=NOT_FOUND)
def get_model(model_id: str, jobs: JobsDep) -> ModelDetailPublic:
    """Its record (as in the list), hyper-parameters, test loss and per-epoch training history."""
    return ModelDetailPublic.detail(_find(jobs, model_id), jobs.live_model_id())


@router.get(
    "/{model_id}/weights",
    summary="Download a model",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {}, "application/octet-stream": {}, "application/json": {}},
            "description": "part=zip (default): ID.safetensors and ID.json in a zip; part=safetensors or part=json: "
            "that file alone.",
        },
        **NOT_FOUND,
        **BAD_WEIGHTS,
    },
)
def download_model(model_id: str, jobs: JobsDep, part: Part = Part.ZIP) -> Response:
    """The model as `python -m training` writes it: safetensors weights plus the JSON sidecar the loaders read."""
    record = _find(jobs, model_id)
    sidecar = (json.dumps(record.metadata, indent=2) + "\n").encode()
    if part == Part.JSON:
        return Response(sidecar, media_type="application/json", headers=_attachment(f"{model_id}.json"))
    try:
        weights = jobs.weights(model_id)
    except ArtifactError as exc:
        raise HTTPException(409, f"model {model_id}: {exc}") from None
    if part == Part.SAFETENSORS:
        return Response(weights, media_type="application/octet-stream", headers=_attachment(f"{model_id}.safetensors"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{model_id}.safetensors", weights)
        archive.writestr(f"{model_id}.json", sidecar)
    return Response(buffer.getvalue(), media_type="application/zip", headers=_attachment(f"{model_id}.zip"))


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.post(
    "/{model_id}/activate",
    summary="Serve a registered model",
    dependencies=ADMIN,
    responses={**error_responses(401), **NOT_FOUND, **CANNOT_LOAD},
)
async def activate_model(model_id: str, jobs: JobsDep) -> ModelEntryPublic:
    """Hot-swap: the model is loaded beside the current one, recorded as live, then swapped in; requests in
    flight finish on the model they started with. Every server process and replica follows (within ~1 s).
    No quality gate: this is how to roll back, or serve a model the gate held back."""
    try:
        record = await asyncio.to_thread(jobs.activate, model_id)
    except ModelNotFoundError:
        raise HTTPException(404, f"no model {model_id!r}; GET /models lists them") from None
    except ArtifactError as exc:
        raise HTTPException(409, f"model {model_id} cannot be loaded, so it stays inactive: {exc}") from None
    return ModelEntryPublic.of(record, model_id)


@router.delete(
    "/{model_id}",
    summary="Delete a model",
    status_code=204,
    response_class=Response,
    dependencies=ADMIN,
    responses={**error_responses(401), **NOT_FOUND, **LIVE},
)
def delete_model(model_id: str, jobs: JobsDep) -> Response:
    """Remove the model's record and weights. The live model is refused (409): activate another first."""
    try:
        jobs.delete_model(model_id)
    except ModelNotFoundError:
        raise HTTPException(404, f"no model {model_id!r}; GET /models lists them") from None
    except ModelLiveError:
        raise HTTPException(409, f"model {model_id} is live; activate another model before deleting it") from None
    return Response(status_code=204)
