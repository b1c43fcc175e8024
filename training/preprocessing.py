"""The one place where pixels become model input, shared by training and serving.

Training feeds the network `normalize(uint8 pixels)`; serving turns an uploaded image into the
same kind of uint8 28x28 array and calls the same function, so equal pixels give equal tensors,
bit for bit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

IMAGE_SIZE = 28


@dataclass(frozen=True)
class Normalization:
    """Input size and the affine map applied to [0, 1] pixel values."""

    size: int = IMAGE_SIZE
    mean: float = 0.5
    std: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalization:
        """Rebuild from model metadata, refusing constants this code cannot honour."""
        size, mean, std = data["size"], data["mean"], data["std"]
        if size != IMAGE_SIZE:
            raise ValueError(f"unsupported input size {size!r}; this code handles {IMAGE_SIZE}")
        if not isinstance(std, int | float) or std <= 0 or not isinstance(mean, int | float):
            raise ValueError(f"invalid normalisation mean={mean!r} std={std!r}")
        return cls(size=int(size), mean=float(mean), std=float(std))


# The tutorial's constants: ToTensor() scales to [0, 1], Normalize((0.5,), (0.5,)) maps to [-1, 1].
REFERENCE = Normalization()


def normalize(pixels: NDArray[np.uint8], norm: Normalization = REFERENCE) -> torch.Tensor:
    """Map uint8 images of shape (28, 28) or (N, 28, 28) to float32 input of shape (N, 1, 28, 28)."""
    if pixels.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.ndim != 3 or pixels.shape[1:] != (norm.size, norm.size):
        raise ValueError(f"expected (N, {norm.size}, {norm.size}) pixels, got {pixels.shape}")
    x = torch.from_numpy(pixels.astype(np.float32))
    # Same operation order as ToTensor + Normalize: divide, subtract, divide.
    return x.div_(255.0).sub_(norm.mean).div_(norm.std).unsqueeze_(1)


def to_grayscale(image: Image.Image) -> NDArray[np.uint8]:
    """Any Pillow image as 8-bit grayscale; transparency is flattened onto white paper."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit/32-bit integer images: Pillow's convert("L") clips instead of scaling.
        wide = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or wide.max() > 255 else 255.0
        return np.clip(wide * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        top = 1.0 if values.max() <= 1.0 else 255.0
        return np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8)


def resize_to_input(gray: NDArray[np.uint8], size: int = IMAGE_SIZE) -> NDArray[np.uint8]:
    """Resize a grayscale array to size x size; an array already that size is returned as is."""
    if gray.shape == (size, size):
        return gray
    resized = Image.fromarray(gray, mode="L").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)
