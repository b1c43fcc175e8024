"""Which pixels of the 28x28 frame pushed the model towards a digit: Captum's integrated gradients.

Runs on a batcher's worker thread like the forward pass (it is a few dozen forward and backward
passes), never on the event loop.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from training.runtime import ServedModel

# Positive evidence (towards the digit) warm, negative (against it) cool, over the dimmed frame.
_TOWARDS = np.array([255, 96, 0], dtype=np.float32)
_AGAINST = np.array([0, 140, 255], dtype=np.float32)

_import_lock = threading.Lock()


def attribute(served: ServedModel, pixels: NDArray[np.uint8], target: int) -> NDArray[np.float32]:
    """Signed attribution of each pixel towards TARGET, scaled so that the largest magnitude is 1."""
    # Imported on the first explanation: gradients need torch (and Captum pulls in matplotlib), which
    # a server that only answers /predict never loads.
    with _import_lock:
        from app.core import attribution
    return attribution.attribute(served, pixels, target)


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


def explain(loaded: ServedModel, pixels: NDArray[np.uint8], target: int, scale: int) -> Explanation:
    attribution = attribute(loaded, pixels, target)
    return Explanation(target, attribution, overlay_png(pixels, attribution, scale))
