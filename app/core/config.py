"""All configuration, read from DIGITS_* environment variables into one Settings object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = PROJECT_ROOT / "models" / "compact.safetensors"


def _share_of_cpus(fields: dict[str, Any]) -> int:
    """Each server process's share of the CPUs, so that all processes together use each core once."""
    return max(1, (os.cpu_count() or 1) // int(fields.get("workers", 1)))


class Settings(BaseSettings):
    """Service settings; every field can be set as DIGITS_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="DIGITS_", frozen=True)

    model: Path = Field(DEFAULT_MODEL, description="Artifact (.safetensors with .json sidecar) served at start-up.")
    # A phone photo at full quality: 12 MP is 5-8 MB as JPEG, 48 MP up to ~25 MB.
    max_upload_bytes: int = Field(32 * 1024 * 1024, gt=0, description="Largest accepted request body, in bytes.")
    # 48-megapixel sensors write 8000x6000 (48.0 MP) or 8064x6048 (48.8 MP); JPEGs that size are decoded
    # at 1/4 or 1/8 scale (app.core.imaging), so admitting them costs little.
    max_image_pixels: int = Field(
        50_000_000, gt=0, description="Largest accepted image (width x height), checked before decoding."
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
    # The name predates serving on ONNX Runtime; it sets the threads of one forward pass either way.
    torch_threads: int = Field(
        1, gt=0, description="Intra-op threads of one forward pass (ONNX Runtime; torch for int8 and explanations)."
    )
    int8: bool = Field(
        False,
        description="Answer with a model's int8 form (x86 CPUs) when `python -m training quantize` recorded "
        "one for it, having checked its test accuracy; other models are served in float.",
    )
    # When on, FastAPI asks the global OpenTelemetry providers on every request whether to record: ~3 us
    # each time, a seventh of the bare HTTP stack's cost per request, and with only the API installed
    # (a FastAPI dependency) the answer is always no.
    opentelemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs, through the globally configured "
        "providers (install and configure an OpenTelemetry SDK).",
    )
    data_dir: Path = Field(PROJECT_ROOT.parent / "shared" / "data" / "mnist", description="MNIST files for training.")
    state_dir: Path = Field(PROJECT_ROOT / "state", description="Job database and generated admin token.")
    models_dir: Path | None = Field(None, description="Where trained model versions go; default STATE_DIR/models.")
    admin_token: SecretStr | None = Field(None, description="Bearer token for endpoints that change state.")
    admin_token_file: Path | None = Field(
        None, description="A file holding the admin token (a mounted secret); instead of DIGITS_ADMIN_TOKEN."
    )
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
    # Limits a public endpoint needs, enforced by the server process itself (app/api/http_protocol.py,
    # app/api/middleware.py, app/api/predict_http.py).
    max_header_bytes: int = Field(16 * 1024, gt=0, description="Largest request line plus headers, in bytes (431).")
    max_headers: int = Field(100, gt=0, description="Most header lines in one request (431).")
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send its request line and headers (408, then closed)."
    )
    body_timeout: float = Field(
        10.0, gt=0, description="Longest pause, in seconds, between body bytes; also the grace before body_min_rate."
    )
    body_min_rate: int = Field(
        4096, ge=0, description="Bytes per second a body must average once body_timeout has passed (0: no minimum)."
    )
    max_uploads_in_flight: int = Field(
        32,
        gt=0,
        description="Bodies still arriving at once past their first 64 KiB, per process; more get 503 (Retry-After).",
    )
    max_request_pixels: int = Field(
        100_000_000, gt=0, description="Decode budget: pixels of all images of one request, from their headers."
    )

    @model_validator(mode="after")
    def _read_admin_token_file(self) -> Settings:
        """A token file (Docker or Kubernetes secret) becomes `admin_token`, read once at start-up."""
        if self.admin_token_file is None:
            return self
        if self.admin_token is not None:
            raise ValueError("set DIGITS_ADMIN_TOKEN or DIGITS_ADMIN_TOKEN_FILE, not both")
        try:
            token = self.admin_token_file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read DIGITS_ADMIN_TOKEN_FILE {self.admin_token_file}: {exc.strerror}") from None
        if not token:
            raise ValueError(f"DIGITS_ADMIN_TOKEN_FILE {self.admin_token_file} is empty")
        object.__setattr__(self, "admin_token", SecretStr(token))
        return self

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
