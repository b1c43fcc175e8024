"""Model artifacts: safetensors weights plus a JSON sidecar that is enough to rebuild the model.

Nothing here unpickles: weights are read with safetensors, metadata with json.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as dump_tensors
from torch import nn

from training.calibration import Calibration, CalibrationError, refusal_scores
from training.models import build_model
from training.preprocessing import Normalization

FORMAT = "digit-service/model"
FORMAT_VERSION = 1
CLASSES = [str(digit) for digit in range(10)]
# A model may learn an eleventh class for everything that is not a digit (issue 9): trained on
# generated non-digits, it refuses them by itself instead of through an energy threshold.
NOT_A_DIGIT = "not a digit"
CLASSES_WITH_REJECT = [*CLASSES, NOT_A_DIGIT]


def new_model_id(arch: str, now: datetime) -> str:
    # Here rather than in training/run.py: the server names a job's model when it accepts the job, and
    # importing training.run would load the whole training pipeline (evaluation sets, calibration,
    # plots: ~45 modules, ~6 MiB) into every serving process.
    return f"{arch}-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


class ArtifactError(ValueError):
    """An artifact that cannot be served: missing, tampered or of an unknown format."""


@dataclass(frozen=True)
class LoadedModel:
    model: nn.Module  # float, differentiable: explanations and evaluation run it
    metadata: dict[str, Any]
    normalization: Normalization
    calibration: Calibration = Calibration()
    # The int8 form serving may answer with instead (training.optimize.for_serving, DIGITS_INT8).
    quantized: nn.Module | None = None

    @property
    def id(self) -> str:
        return str(self.metadata["id"])

    @property
    def rejects(self) -> bool:
        """Whether the network has the not-a-digit class (else refusal comes from the energy score)."""
        return len(self.metadata["classes"]) == len(CLASSES_WITH_REJECT)


def metadata_path(weights_path: Path) -> Path:
    return weights_path.with_suffix(".json")


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temp file in the same directory and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # mkstemp creates 0600; artifacts are meant to be read by the server's user
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_artifact(model: nn.Module, metadata: dict[str, Any], weights_path: Path) -> dict[str, Any]:
    """Write weights then metadata (the sidecar is the commit point) and return the metadata written."""
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    blob = dump_tensors(tensors)
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **metadata,
        "weights_file": weights_path.name,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
    }
    write_atomic(weights_path, blob)
    write_atomic(metadata_path(weights_path), (json.dumps(full, indent=2) + "\n").encode())
    return full


def read_metadata(weights_path: Path) -> dict[str, Any]:
    """Read and validate the sidecar JSON of an artifact."""
    meta_path = metadata_path(weights_path)
    try:
        metadata = json.loads(meta_path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{meta_path}: metadata file missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{meta_path}: unreadable metadata ({exc})") from exc
    return check_metadata(metadata, str(meta_path))


def check_metadata(metadata: Any, origin: str) -> dict[str, Any]:
    """Validate parsed metadata (from a sidecar file or a database row); ORIGIN names it in errors."""
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ArtifactError(f"{origin}: not a {FORMAT} metadata file")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{origin}: unknown format version {metadata.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    for key in ("id", "architecture", "preprocessing", "classes", "weights_sha256"):
        if key not in metadata:
            raise ArtifactError(f"{origin}: metadata lacks {key!r}")
    if metadata["classes"] not in (CLASSES, CLASSES_WITH_REJECT):
        raise ArtifactError(f"{origin}: unexpected classes {metadata['classes']!r}")
    arch = metadata["architecture"]
    kwargs = arch.get("kwargs") if isinstance(arch, dict) else None
    # Other malformed architectures are refused when the network is built (load_artifact_bytes).
    if isinstance(kwargs, dict):
        outputs = kwargs.get("classes", len(CLASSES))
        if outputs != len(metadata["classes"]):
            raise ArtifactError(f"{origin}: the network has {outputs!r} outputs for {len(metadata['classes'])} classes")
    return metadata


def load_artifact(weights_path: Path | str) -> LoadedModel:
    """Rebuild the exact model an artifact describes, in eval mode, or raise ArtifactError."""
    path = Path(weights_path)
    if not path.is_file():
        raise ArtifactError(f"{path}: model file not found")
    metadata = read_metadata(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read weights ({exc.strerror or exc})") from exc
    return load_artifact_bytes(blob, metadata, str(path))


def load_artifact_bytes(blob: bytes, metadata: dict[str, Any], origin: str) -> LoadedModel:
    """Rebuild a model from weights held in memory (a file's or a database's) and its validated metadata.

    ORIGIN names where the bytes came from, for error messages.
    """
    if hashlib.sha256(blob).hexdigest() != metadata["weights_sha256"]:
        raise ArtifactError(f"{origin}: weights do not match the checksum in their metadata")
    try:
        arch = metadata["architecture"]
        model = build_model(arch["name"], arch.get("kwargs", {}))
        normalization = Normalization.from_dict(metadata["preprocessing"])
        calibration = Calibration.from_metadata(metadata)
    except (KeyError, TypeError, ValueError, CalibrationError) as exc:
        raise ArtifactError(f"{origin} metadata: {exc}") from exc
    try:
        tensors = load_tensors(blob)
    except SafetensorError as exc:
        raise ArtifactError(f"{origin}: not a valid safetensors file ({exc})") from exc
    expected = model.state_dict()
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise ArtifactError(f"{origin}: tensors do not match architecture (missing {missing}, unexpected {extra})")
    for name, wanted in expected.items():  # model order, so the first mismatch reported is stable
        tensor = tensors[name]
        if tensor.shape != wanted.shape or tensor.dtype != wanted.dtype:
            raise ArtifactError(
                f"{origin}: tensor {name} is {tuple(tensor.shape)} {tensor.dtype}, "
                f"architecture needs {tuple(wanted.shape)} {wanted.dtype}"
            )
    model.load_state_dict(tensors)
    model.eval()
    return LoadedModel(model=model, metadata=metadata, normalization=normalization, calibration=calibration)


def rewrite_metadata(weights_path: Path, changes: dict[str, Any]) -> dict[str, Any]:
    """Update an artifact's sidecar (weights untouched: their checksum stays valid) and return it."""
    metadata = {**read_metadata(weights_path), **changes}
    write_atomic(metadata_path(weights_path), (json.dumps(metadata, indent=2) + "\n").encode())
    return metadata


@dataclass(frozen=True)
class Scores:
    """The model's answer for a batch: calibrated probabilities and which images it refuses."""

    logits: torch.Tensor  # (N, 10): the digits' logits, as the network computed them
    probabilities: torch.Tensor  # (N, 10), softmax of logits / T
    refusal: torch.Tensor  # (N,): what the threshold is compared with (calibration.refusal_scores)
    refusal_threshold: float | None  # None: nothing is refused
    refused: torch.Tensor  # (N,) bool: refusal above its threshold ("not a digit")


def score_batch(loaded: LoadedModel, batch: torch.Tensor) -> Scores:
    """Run a normalised (N, 1, 28, 28) batch: the one place logits become answers (serving and evaluation).

    A model with the not-a-digit class refuses an image when that class's log-odds against all the
    digits exceed the calibrated threshold (0, an even bet, when none is recorded); any other model
    refuses on the energy score.
    """
    calibration = loaded.calibration
    network = loaded.quantized if loaded.quantized is not None else loaded.model
    with torch.inference_mode():
        outputs = network(batch)
        logits = outputs[:, : len(CLASSES)]
        probabilities = torch.softmax(logits / calibration.temperature, dim=1)
        refusal = refusal_scores(outputs, calibration.temperature)
    if loaded.rejects:
        threshold: float | None = calibration.reject_threshold if calibration.reject_threshold is not None else 0.0
    else:
        threshold = calibration.energy_threshold
    refused = refusal > threshold if threshold is not None else torch.zeros(len(refusal), dtype=torch.bool)
    return Scores(logits, probabilities, refusal, threshold, refused)


def predict_probabilities(loaded: LoadedModel, batch: torch.Tensor) -> torch.Tensor:
    """Calibrated softmax probabilities for a normalised (N, 1, 28, 28) batch."""
    return score_batch(loaded, batch).probabilities
