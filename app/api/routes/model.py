"""GET /model: the active model's metadata."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ModelDep
from app.api.errors import error_responses
from app.schemas import EpochPublic, ModelPublic

router = APIRouter(tags=["model"])


@router.get("/model", summary="Describe the served model", responses=error_responses(503))
def model_info(loaded: ModelDep) -> ModelPublic:
    """Id, architecture, preprocessing constants, test accuracy and training history of the served model."""
    meta = loaded.metadata
    history = [EpochPublic(**epoch) for epoch in meta.get("history", [])]
    test = meta.get("test", {})
    return ModelPublic(
        id=loaded.id,
        architecture=meta["architecture"],
        preprocessing=meta["preprocessing"],
        classes=meta["classes"],
        test_accuracy=test.get("accuracy"),
        test_loss=test.get("loss"),
        hyperparameters=meta.get("hyperparameters", {}),
        epochs=len(history),
        final_epoch=history[-1] if history else None,
        history=history,
        created=meta.get("created"),
        calibration=meta.get("calibration"),
    )
