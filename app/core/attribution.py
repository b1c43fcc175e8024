"""Integrated gradients (Captum) over the torch form of the served network, for /predict's explain.

Imported only when a request asks for an explanation: the served network has no gradients (ONNX
Runtime), so the torch network is rebuilt from the same checked weights, once per served model.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from training import runtime
from training.artifacts import load_artifact_bytes
from training.preprocessing import normalize
from training.runtime import ServedModel

# Riemann steps along the path from the baseline to the image: enough for completeness within a few
# percent on our models, and one (32, 1, 28, 28) batch forward and back.
IG_STEPS = 32

_lock = threading.Lock()
_networks: dict[str, torch.nn.Module] = {}  # weights sha256 -> torch network; the last model asked only


def torch_network(served: ServedModel) -> torch.nn.Module:
    key = str(served.metadata["weights_sha256"])
    with _lock:
        if key not in _networks:
            torch.set_num_threads(runtime.threads())  # DIGITS_TORCH_THREADS, as for the served network
            network = load_artifact_bytes(served.weights, served.metadata, served.id).model
            _networks.clear()
            _networks[key] = network
        return _networks[key]


def _integrated_gradients(model: torch.nn.Module) -> Any:
    from captum.attr import IntegratedGradients

    return IntegratedGradients(model)


def attribute(served: ServedModel, pixels: NDArray[np.uint8], target: int) -> NDArray[np.float32]:
    """Signed attribution of each pixel towards TARGET, scaled so that the largest magnitude is 1.

    The baseline is an empty frame (every pixel at the background level), so the attributions say
    how much each stroke pixel added to or took from the target's logit.
    """
    inputs = torch.from_numpy(normalize(pixels, served.normalization))  # a new array (a gather), not the table
    baseline = torch.from_numpy(normalize(np.zeros_like(pixels), served.normalization))
    with torch.enable_grad():
        attributions = _integrated_gradients(torch_network(served)).attribute(
            inputs.requires_grad_(True), baselines=baseline, target=target, n_steps=IG_STEPS
        )
    values: NDArray[np.float32] = attributions.detach()[0, 0].numpy().astype(np.float32)
    peak = float(np.abs(values).max())
    return values / peak if peak > 0 else values
