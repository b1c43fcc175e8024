"""Which pixels of the 28x28 frame pushed the model towards a digit: Captum's integrated gradients.

Runs on a batcher's worker thread like the forward pass (it is a few dozen forward and backward
passes), never on the event loop.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from training.artifacts import LoadedModel
from training.preprocessing import normalize

# Riemann steps along the path from the baseline to the image: enough for completeness within a few
# percent on our models, and one (32, 1, 28, 28) batch forward and back.
IG_STEPS = 32
# Positive evidence (towards the digit) warm, negative (against it) cool, over the dimmed frame.
_TOWARDS = np.array([255, 96, 0], dtype=np.float32)
_AGAINST = np.array([0, 140, 255], dtype=np.float32)

_import_lock = threading.Lock()


def _integrated_gradients(model: torch.nn.Module) -> Any:
    # Captum pulls in matplotlib (over a second); import it on the first explanation, not at start-up.
    with _import_lock:
        from captum.attr import IntegratedGradients

    return IntegratedGradients(model)


def attribute(loaded: LoadedModel, pixels: NDArray[np.uint8], target: int) -> NDArray[np.float32]:
    """Signed attribution of each pixel towards TARGET, scaled so that the largest magnitude is 1.

    The baseline is an empty frame (every pixel at the background level), so the attributions say
    how much each stroke pixel added to or took from the target's logit.
    """
    inputs = normalize(pixels, loaded.normalization).clone()
    baseline = normalize(np.zeros_like(pixels), loaded.normalization)
    with torch.enable_grad():
        attributions = _integrated_gradients(loaded.model).attribute(
            inputs.requires_grad_(True), baselines=baseline, target=target, n_steps=IG_STEPS
        )
    values: NDArray[np.float32] = attributions.detach()[0, 0].numpy().astype(np.float32)
    peak = float(np.abs(values).max())
    return values / peak if peak > 0 else values


def overlay_png(pixels: NDArray[np.uint8], attribution: NDArray[np.float32], scale: int) -> bytes:
    """The frame in dim grey with the attribution painted over it, enlarged SCALE times (RGB PNG)."""
    base = (pixels.astype(np.float32) * 0.45)[..., None].repeat(3, axis=2)
    strength = np.clip(np.abs(attribution), 0, 1)[..., None]
    colour = np.where(attribution[..., None] >= 0, _TOWARDS, _AGAINST)
    rgb = base * (1 - strength) + colour * strength
    image = Image.fromarray(rgb.round().astype(np.uint8), mode="RGB")
    if scale > 1:
        image = image.resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Explanation:
    target: int  # the digit whose evidence this is
    attribution: NDArray[np.float32]  # (28, 28), signed, largest magnitude 1
    overlay_png: bytes


def explain(loaded: LoadedModel, pixels: NDArray[np.uint8], target: int, scale: int) -> Explanation:
    attribution = attribute(loaded, pixels, target)
    return Explanation(target, attribution, overlay_png(pixels, attribution, scale))
