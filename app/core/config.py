"""All configuration, read from DIGITS_* environment variables into one Settings object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = PROJECT_ROOT / "models" / "cnn.safetensors"


def _share_of_cpus(fields: dict[str, Any]) -> int:
    """Each server process's share of the CPUs, so that all processes together use each core once."""
    return max(1, (os.cpu_count() or 1) // int(fields.get("workers", 1)))


class Settings(BaseSettings):
    """Service settings; every field can be set as DIGITS_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="DIGITS_", frozen=True)

    model: Path = Field(DEFAULT_MODEL, description="Artifact (.safetensors with .json sidecar) served at start-up.")
    max_upload_bytes: int = Field(5 * 1024 * 1024, gt=0, description="Largest accepted request body, in bytes.")
    max_image_pixels: int = Field(
        40_000_000, gt=0, description="Largest accepted image (width x height), checked before decoding."
    )
    max_files: int = Field(64, gt=0, description="Most images in one batch request.")
    workers: int = Field(
        1, gt=0, description="Server processes `python -m app` runs; 1 serves exactly as `uvicorn app.main:app`."
    )
    host: str = Field("127.0.0.1", description="Address `python -m app` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `python -m app` listens on.")
    inference_workers: int = Field(
        default_factory=_share_of_cpus, gt=0, description="Threads that decode and run the model, per process."
    )
    max_batch: int = Field(64, gt=0, description="Most images the dynamic batcher runs in one forward pass.")
    torch_threads: int = Field(1, gt=0, description="torch intra-op threads per inference worker.")
    data_dir: Path = Field(PROJECT_ROOT.parent / "shared" / "data" / "mnist", description="MNIST files for training.")
    state_dir: Path = Field(PROJECT_ROOT / "state", description="Job database and generated admin token.")
    models_dir: Path | None = Field(None, description="Where trained model versions go; default STATE_DIR/models.")
    admin_token: SecretStr | None = Field(None, description="Bearer token for endpoints that change state.")
    training_threads: int = Field(1, gt=0, description="torch threads of a training job's process.")
    database_url: SecretStr | None = Field(
        None,
        description="postgresql://user@host/db: jobs, registry, weights and the live model in PostgreSQL, shared "
        "by replicas. Unset: a SQLite file and model files under STATE_DIR.",
    )
    trainer: bool | None = Field(
        None, description="Whether this process runs training jobs. Default: yes (embedded), no (PostgreSQL)."
    )
    activation_tolerance: float = Field(
        0.2,
        ge=0,
        le=100,
        description="A job's model is activated only if its test accuracy is at most this many points below "
        "the live model's (unless the request sets force_activate).",
    )
    poll_seconds: float = Field(
        0.2, gt=0, le=60, description="How often each process looks for new jobs, cancels and activations."
    )
    heartbeat_seconds: float = Field(2.0, gt=0, description="How often a trainer renews the lease on its job.")
    trainer_lease_seconds: float = Field(
        20.0, gt=0, description="A job whose trainer has not renewed its lease this long is failed (interrupted)."
    )
    keep_jobs: int | None = Field(1000, ge=1, description="Finished jobs kept (newest first); unset: all.")
    keep_job_days: float | None = Field(None, gt=0, description="Finished jobs older than this are deleted.")
    keep_models: int | None = Field(
        20, ge=0, description="Trained models that never served kept (newest first); unset: all."
    )
    keep_model_days: float | None = Field(None, gt=0, description="Never-served trained models older than this go.")
    min_free_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="Free space the state and models directories need before a job starts."
    )

    @model_validator(mode="after")
    def _lease_outlasts_heartbeats(self) -> Settings:
        # Heartbeats are sent from the polling loop: a lease shorter than two of its beats would fail live jobs.
        beat = max(self.heartbeat_seconds, self.poll_seconds)
        if self.trainer_lease_seconds < 2 * beat:
            raise ValueError(
                f"DIGITS_TRAINER_LEASE_SECONDS ({self.trainer_lease_seconds:g}) must be at least twice "
                f"DIGITS_HEARTBEAT_SECONDS and DIGITS_POLL_SECONDS ({beat:g})"
            )
        return self

    @property
    def embedded(self) -> bool:
        """No DIGITS_DATABASE_URL: SQLite and model files under STATE_DIR."""
        return self.database_url is None or not self.database_url.get_secret_value()

    @property
    def is_trainer(self) -> bool:
        return self.trainer if self.trainer is not None else self.embedded

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.state_dir / "models"
