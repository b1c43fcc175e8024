"""MNIST test digits rendered as a phone photo of a handwritten digit on paper would look."""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

SCALE_RANGE = (3.0, 12.0)


def _pen_stroke(digit: NDArray[np.uint8], scale: float, angle: float) -> NDArray[np.float32]:
    """The digit (or a row of digits) enlarged, rotated and given a pen's solid core and soft edge, as ink 0-1."""
    size = (round(digit.shape[1] * scale), round(digit.shape[0] * scale))
    big = np.asarray(Image.fromarray(digit).resize(size, Image.Resampling.BICUBIC), dtype=np.float32) / 255
    solid = np.clip((big - 0.2) / 0.45, 0, 1)
    rotated = Image.fromarray(solid).rotate(angle, Image.Resampling.BILINEAR, expand=True)
    return np.asarray(rotated, dtype=np.float32)


def _lighting(height: int, width: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """Brightness factor over the page: a gradient, vignetting and sometimes a soft shadow."""
    y = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    direction = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0, 0.2) * (x * np.cos(direction) + y * np.sin(direction))
    light = light - rng.uniform(0, 0.25) * (x * x + y * y) / 2
    if rng.random() < 0.5:
        cy, cx, spread = rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.4, 1.0)
        light = light * (1 - rng.uniform(0.05, 0.25) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * spread**2)))
    return np.asarray(light, dtype=np.float32)


def render_photo(
    digit: NDArray[np.uint8], rng: np.random.Generator, scale_range: tuple[float, float] = SCALE_RANGE
) -> bytes:
    """JPEG bytes of a 28x28 MNIST digit (or a 28-row strip of them) written in dark ink and photographed."""
    scale = rng.uniform(*scale_range)
    ink = _pen_stroke(digit, scale, rng.uniform(-10, 10))
    ih, iw = ink.shape
    height, width = round(ih * rng.uniform(1.3, 2.4)), round(iw * rng.uniform(1.3, 2.4))
    top, left = int(rng.integers(0, height - ih + 1)), int(rng.integers(0, width - iw + 1))
    coverage = np.zeros((height, width), np.float32)
    coverage[top : top + ih, left : left + iw] = ink
    paper = rng.uniform(165, 245) * (1 + rng.normal(0, 0.03, 3))
    pen = rng.uniform(10, 70) + np.array([0.0, 0.0, rng.uniform(0, 60)])  # black or blue ink
    colour = paper + coverage[..., None] * (pen - paper)
    photo = colour * _lighting(height, width, rng)[..., None]
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0) * scale / 4))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, rng.uniform(2, 8), (height, width, 1))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=int(rng.integers(55, 93)))
    return buffer.getvalue()
