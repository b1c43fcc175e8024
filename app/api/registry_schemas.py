"""Bodies of the /models endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.jobs.ports import ModelRecord
from app.schemas import EpochPublic


class ModelEntryPublic(BaseModel):
    """A registered model."""

    id: str
    live: bool = Field(description="Whether this is the model the service serves now.")
    architecture: dict[str, Any] = Field(description="Name and constructor arguments.")
    preprocessing: dict[str, Any] = Field(description="Input size and normalisation constants.")
    test_accuracy: float | None = Field(description="Accuracy on the 10k MNIST test split (0-1).")
    realworld: dict[str, Any] | None = Field(description="Figures on real-world drawings and photos, if measured.")
    created: str | None = Field(description="When it was trained (ISO 8601).")
    source: Literal["file", "job"] = Field(description="A committed (or found) file, or a training job.")
    source_ref: str | None = Field(description="The file's name, or the training job's id.")
    sha256: str = Field(description="Of the safetensors weights; checked whenever they are loaded.")
    size: int = Field(description="Bytes of the safetensors weights.")
    registered_at: datetime
    ever_live: bool = Field(description="Whether it has ever been activated (retention never removes those).")
    weights_url: str = Field(description="Where to download it (a zip of the safetensors and JSON files).")

    @classmethod
    def of(cls, record: ModelRecord, live_id: str | None) -> ModelEntryPublic:
        meta = record.metadata
        return cls(
            id=record.id,
            live=record.id == live_id,
            architecture=meta["architecture"],
            preprocessing=meta["preprocessing"],
            test_accuracy=record.test_accuracy,
            realworld=meta.get("realworld"),
            created=record.created,
            source="job" if record.source == "job" else "file",
            source_ref=record.source_ref,
            sha256=record.sha256,
            size=record.size,
            registered_at=record.registered_at,
            ever_live=record.ever_live,
            weights_url=f"/models/{record.id}/weights",
        )


class ModelDetailPublic(ModelEntryPublic):
    """A registered model with how it was trained."""

    hyperparameters: dict[str, Any]
    test_loss: float | None
    history: list[EpochPublic] = Field(description="Per-epoch metrics of its training run.")

    @classmethod
    def detail(cls, record: ModelRecord, live_id: str | None) -> ModelDetailPublic:
        meta = record.metadata
        return cls(
            **ModelEntryPublic.of(record, live_id).model_dump(),
            hyperparameters=meta.get("hyperparameters", {}),
            test_loss=(meta.get("test") or {}).get("loss"),
            history=[EpochPublic(**epoch) for epoch in meta.get("history", [])],
        )
