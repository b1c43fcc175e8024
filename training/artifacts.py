"""Model artifacts as torch networks, for training and evaluation: save, load, score.

The format itself (sidecar metadata, checksums, classes) is training.artifact_format; serving runs
the same artifacts without torch (training.runtime). Nothing here unpickles: weights are read with
safetensors, metadata with json.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from safetensors.torch import load as load_tensors
from safetensors.torch import save as dump_tensors
from torch import nn

from training.artifact_format import (
    FORMAT,
    FORMAT_VERSION,
    TensorSpecs,
    build_described,
    check_tensors,
    check_weights,
    has_reject_class,
    input_and_calibration,
    metadata_path,
    read_artifact,
    read_tensors,
    write_atomic,
)
from training.calibration import Calibration
from training.models import build_model
from training.preprocessing import Normalization
from training.scoring import Scores, score_outputs


@dataclass(frozen=True)
class LoadedModel:
    model: nn.Module  # float, differentiable: explanations and evaluation run it
    metadata: dict[str, Any]
    normalization: Normalization
    calibration: Calibration = Calibration()
    # The int8 form that may answer instead (training.optimize.for_serving, DIGITS_INT8).
    quantized: nn.Module | None = None

    @property
    def id(self) -> str:
        return str(self.metadata["id"])

    @property
    def rejects(self) -> bool:
        """Whether the network has the not-a-digit class (else refusal comes from the energy score)."""
        return has_reject_class(self.metadata)


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


def load_artifact(weights_path: Path | str) -> LoadedModel:
    """Rebuild the exact model an artifact describes, in eval mode, or raise ArtifactError."""
    blob, metadata = read_artifact(weights_path)
    return load_artifact_bytes(blob, metadata, str(weights_path))


def load_artifact_bytes(blob: bytes, metadata: dict[str, Any], origin: str) -> LoadedModel:
    """Rebuild a model from weights held in memory (a file's or a database's) and its validated metadata.

    ORIGIN names where the bytes came from, for error messages.
    """
    check_weights(blob, metadata, origin)
    model = build_described(metadata, origin, build_model)
    normalization, calibration = input_and_calibration(metadata, origin)
    tensors = read_tensors(blob, origin, load_tensors)
    check_tensors(specs(tensors), specs(model.state_dict()), origin)
    model.load_state_dict(tensors)
    model.eval()
    return LoadedModel(model=model, metadata=metadata, normalization=normalization, calibration=calibration)


def specs(tensors: dict[str, torch.Tensor]) -> TensorSpecs:
    return {name: (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in tensors.items()}


Batch = NDArray[np.float32] | torch.Tensor


def numpy_forward(network: nn.Module) -> Callable[[Batch], NDArray[np.float32]]:
    """NETWORK called as the serving side calls a forward pass (training.runtime.Forward): a batch in,
    numpy outputs out."""

    def forward(batch: Batch) -> NDArray[np.float32]:
        with torch.inference_mode():
            return network(torch.as_tensor(batch)).numpy()  # type: ignore[no-any-return]

    return forward


def network_outputs(loaded: LoadedModel, batch: NDArray[np.float32] | torch.Tensor) -> NDArray[np.float32]:
    """The (N, 10 or 11) outputs for a normalised (N, 1, 28, 28) batch, from the int8 form if it has one."""
    network = loaded.quantized if loaded.quantized is not None else loaded.model
    return numpy_forward(network)(batch)


def score_batch(loaded: LoadedModel, batch: NDArray[np.float32] | torch.Tensor) -> Scores:
    """Run a normalised (N, 1, 28, 28) batch and read its answers as serving does (training.scoring)."""
    return score_outputs(network_outputs(loaded, batch), loaded.calibration, loaded.rejects)


def predict_probabilities(loaded: LoadedModel, batch: NDArray[np.float32] | torch.Tensor) -> NDArray[np.float32]:
    """Calibrated softmax probabilities for a normalised (N, 1, 28, 28) batch."""
    return score_batch(loaded, batch).probabilities
