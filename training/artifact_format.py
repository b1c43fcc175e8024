"""The artifact format without the network: sidecar metadata, checksums, classes, atomic writes.

An artifact is safetensors weights plus a JSON sidecar that is enough to rebuild the model. This
module reads and checks everything but the network itself, without torch: the serving process runs
the network with ONNX Runtime (training.runtime), training and evaluation with torch
(training.artifacts). Nothing here unpickles: weights are read as bytes, metadata with json.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from safetensors import SafetensorError

from training.calibration import Calibration, CalibrationError
from training.preprocessing import Normalization

Network = TypeVar("Network")
Tensor = TypeVar("Tensor")

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


def rewrite_metadata(weights_path: Path, changes: dict[str, Any]) -> dict[str, Any]:
    """Update an artifact's sidecar (weights untouched: their checksum stays valid) and return it."""
    metadata = {**read_metadata(weights_path), **changes}
    write_atomic(metadata_path(weights_path), (json.dumps(metadata, indent=2) + "\n").encode())
    return metadata


def read_artifact(weights_path: Path | str) -> tuple[bytes, dict[str, Any]]:
    """An artifact's weights and its validated metadata, or ArtifactError.

    The weights are not checked against the metadata's checksum here: the loaders that build a
    network from them (training.artifacts, training.runtime) check every blob they are given."""
    path = Path(weights_path)
    if not path.is_file():
        raise ArtifactError(f"{path}: model file not found")
    metadata = read_metadata(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read weights ({exc.strerror or exc})") from exc
    return blob, metadata


def check_weights(blob: bytes, metadata: dict[str, Any], origin: str) -> None:
    """Refuse weights that are not the ones their metadata was written for."""
    if hashlib.sha256(blob).hexdigest() != metadata["weights_sha256"]:
        raise ArtifactError(f"{origin}: weights do not match the checksum in their metadata")


def input_and_calibration(metadata: dict[str, Any], origin: str) -> tuple[Normalization, Calibration]:
    """What the metadata says about the network's input and about reading its outputs."""
    try:
        return Normalization.from_dict(metadata["preprocessing"]), Calibration.from_metadata(metadata)
    except (KeyError, TypeError, ValueError, CalibrationError) as exc:
        raise ArtifactError(f"{origin} metadata: {exc}") from exc


def build_described(metadata: dict[str, Any], origin: str, build: Callable[[str, Any], Network]) -> Network:
    """BUILD(name, kwargs) for the architecture the metadata names; its ValueError as an ArtifactError."""
    try:
        arch = metadata["architecture"]
        return build(arch["name"], arch.get("kwargs", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{origin} metadata: {exc}") from exc


def read_tensors(blob: bytes, origin: str, load: Callable[[bytes], dict[str, Tensor]]) -> dict[str, Tensor]:
    """The weights' tensors as LOAD (safetensors for torch or numpy) reads them, or ArtifactError."""
    try:
        return load(blob)
    except SafetensorError as exc:
        raise ArtifactError(f"{origin}: not a valid safetensors file ({exc})") from exc


TensorSpecs = dict[str, tuple[tuple[int, ...], str]]  # name -> (shape, dtype name such as "float32")


def check_tensors(found: TensorSpecs, expected: TensorSpecs, origin: str) -> None:
    """Every tensor the architecture needs, none other, each of its shape and dtype (in EXPECTED's order,
    so the first mismatch reported is stable)."""
    if set(found) != set(expected):
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        raise ArtifactError(f"{origin}: tensors do not match architecture (missing {missing}, unexpected {extra})")
    for name, wanted in expected.items():
        if found[name] != wanted:
            (shape, dtype), (wanted_shape, wanted_dtype) = found[name], wanted
            raise ArtifactError(
                f"{origin}: tensor {name} is {shape} {dtype}, architecture needs {wanted_shape} {wanted_dtype}"
            )


def has_reject_class(metadata: dict[str, Any]) -> bool:
    """Whether the network has the not-a-digit class (else refusal comes from the energy score)."""
    return len(metadata["classes"]) == len(CLASSES_WITH_REJECT)
