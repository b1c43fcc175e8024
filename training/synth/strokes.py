"""Ink coverage maps: a shape's ink as a float array in [0, 1] (1 = full ink), before any medium.

Every renderer first makes a coverage map of the thing drawn (an MNIST digit, a glyph, a shape) at
the size it will have in the picture, then a medium (training.synth.media) lays it on paper, canvas
or screen. Stroke weight is changed on the map by level sets of a blurred copy: a blur of radius r
thresholded low grows every stroke by about r, thresholded high shrinks it, with no skeleton and
no repainting, so the digit's own contour (and the writer's pressure changes) survive.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

Coverage = NDArray[np.float32]

# Levels of a blurred edge one blur radius outside (inside) the original edge: the normal
# distribution's tails at one standard deviation.
_GROW_LEVEL, _SHRINK_LEVEL = 0.16, 0.84


def to_image(cov: Coverage) -> Image.Image:
    return Image.fromarray(np.asarray(np.clip(cov, 0, 1) * 255 + 0.5, dtype=np.uint8))


def from_image(image: Image.Image) -> Coverage:
    return np.asarray(image, dtype=np.float32) * np.float32(1 / 255)


def ink_box(cov: Coverage, floor: float = 0.3) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), exclusive ends, of the pixels above `floor`; None if there are none."""
    rows = np.flatnonzero(cov.max(axis=1) > floor)
    cols = np.flatnonzero(cov.max(axis=0) > floor)
    if rows.size == 0 or cols.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def crop_ink(cov: Coverage, pad: int = 0) -> Coverage:
    """The map cut to its ink (anything above a trace), with `pad` empty pixels around it."""
    box = ink_box(cov, 0.02)
    if box is None:
        return cov
    top, bottom, left, right = box
    return np.pad(cov[top:bottom, left:right], pad)


def harden(soft: Coverage, level: float, softness: float) -> Coverage:
    """Threshold a smooth map at `level` with a ramp `softness` wide: crisp, anti-aliased ink."""
    return np.asarray(np.clip((soft - level) / softness + 0.5, 0, 1), dtype=np.float32)


def blur(cov: Coverage, radius: float) -> Coverage:
    if radius <= 0.05:
        return cov
    return from_image(to_image(cov).filter(ImageFilter.GaussianBlur(radius)))


def mean_width(cov: Coverage) -> float:
    """Mean stroke width in pixels: ink area over half its outline's length."""
    mask = np.pad(cov > 0.5, 1)
    outline = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    if outline == 0:
        return 0.0
    return float(2 * np.count_nonzero(mask) / (outline * math.pi / 4))


def reweight(cov: Coverage, delta: float) -> Coverage:
    """Grow (delta > 0) or shrink (delta < 0) every stroke by about |delta| pixels on each side."""
    if abs(delta) < 0.4:
        return cov
    radius = abs(delta)
    pad = math.ceil(2 * radius) + 1 if delta > 0 else 0
    soft = blur(np.pad(cov, pad), radius)
    level = _GROW_LEVEL if delta > 0 else _SHRINK_LEVEL
    # The ramp narrows with the radius so that a wide blur still gives a crisp edge.
    return harden(soft, level, min(0.25, 0.6 / radius))


def set_width(cov: Coverage, target: float) -> Coverage:
    """Bring the mean stroke width towards `target` px (thinning never removes a stroke entirely)."""
    width = mean_width(cov)
    if width <= 0:
        return cov
    target = max(target, 0.45 * width) if target < width else target
    return reweight(cov, (target - width) / 2)


def jitter(cov: Coverage, rng: np.random.Generator, rotate: float = 10.0, shear: float = 0.2) -> Coverage:
    """A small random rotation, shear and change of aspect, as a hand or camera would add."""
    image = to_image(np.pad(cov, 2))
    angle = float(rng.uniform(-rotate, rotate))
    s, aspect = float(rng.uniform(-shear, shear)), float(rng.uniform(0.85, 1.15))
    w, h = image.size
    # The inverse map (output -> input) of a shear about the centre with a horizontal stretch.
    cx, cy = w / 2, h / 2
    a, b = 1 / aspect, s
    image = image.transform(
        (round(w * aspect + abs(s) * h), h),
        Image.Transform.AFFINE,
        (a, b, cx - a * (w * aspect + abs(s) * h) / 2 - b * cy, 0, 1, 0),
        resample=Image.Resampling.BILINEAR,
    )
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    return crop_ink(from_image(image))


def fit_height(cov: Coverage, height: int) -> Coverage:
    """Scale a cropped map so its ink is `height` px tall (anti-aliased when shrinking)."""
    h, w = cov.shape
    scale = height / max(h, 1)
    size = (max(1, round(w * scale)), max(1, round(height)))
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    return from_image(to_image(cov).resize(size, method))
