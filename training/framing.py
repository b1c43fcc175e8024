"""Framing: turn a photo, scan or drawing of one digit into an MNIST-like 28x28 frame.

MNIST digits are light ink on black, scaled so the longer side fits a 20x20 box (aspect ratio kept,
anti-aliased) and shifted so their centre of mass sits at the centre of the 28x28 frame. Uploads are
dark ink on paper, any size, anywhere in the picture; once training.ink has found the ink,
`frame_ink` crops it, brings its stroke width into MNIST's range and lays it out the way MNIST does.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from training.ink import resize_float

FRAME_SIDE = 28
FIT_SIDE = 20
# MNIST's centre of mass, measured on its test split in pixel-index coordinates (row, column): the
# original shift put it on pixel (14, 14), half a pixel past the geometric centre 13.5.
MNIST_CENTRE = 14.0
# Strokes are measured and adjusted with the digit DETAIL times larger than in the frame.
DETAIL = 4
# Stroke width in frame pixels, by `stroke_width`: MNIST's quartiles are 2.0 and 2.8, its 90th
# percentile 3.5; thinner strokes are thickened, much thicker ones thinned, towards STROKE_TARGET.
STROKE_MIN, STROKE_TARGET, STROKE_MAX = 2.0, 2.6, 3.8
_DIAGONAL_CORRECTION = 4 / math.pi  # mean excess of a city-block perimeter over a Euclidean one


def stroke_width(strength: NDArray[np.float32]) -> float:
    """Mean stroke width in pixels: ink area over half the outline's length (0 for no ink)."""
    peak = float(strength.max(initial=0.0))
    if peak <= 0:
        return 0.0
    mask = np.pad(strength > 0.5 * peak, 1)
    outline = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    return float(2 * strength.sum() / peak / (outline / _DIAGONAL_CORRECTION))


def _morph(a: NDArray[np.float32], steps: int, grow: bool) -> NDArray[np.float32]:
    """Dilate (grow) or erode by `steps` pixels, alternating square and cross steps (an octagon)."""
    pick = np.maximum if grow else np.minimum
    h, w = a.shape
    for step in range(steps):
        p = np.pad(a, 1)
        out = a
        for dy in range(3):
            for dx in range(3):
                if step % 2 and dy != 1 and dx != 1:
                    continue
                out = pick(out, p[dy : dy + h, dx : dx + w])
        a = out
    return a


def _crop(a: NDArray[np.float32], floor: float = 0.0) -> NDArray[np.float32]:
    rows, cols = np.nonzero(a > floor)
    return a[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _normalise_strokes(detail: NDArray[np.float32]) -> NDArray[np.float32]:
    """Thicken hairlines and thin marker strokes towards MNIST's pen width."""
    width = stroke_width(detail) / DETAIL
    margin = 2 * DETAIL * FIT_SIDE // 10
    padded = np.pad(detail, margin)
    if width < STROKE_MIN:
        return _morph(padded, round((STROKE_TARGET - width) * DETAIL / 2), grow=True)
    if width > STROKE_MAX:
        thinner = _morph(padded, round((width - STROKE_TARGET) * DETAIL / 2), grow=False)
        if thinner.max() > 0.5:
            return thinner
    return padded


def frame_ink(strength: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Crop an ink map, fit it into 20x20 keeping its aspect, centre its mass in 28x28 (uint8)."""
    crop = _crop(strength)
    scale = DETAIL * FIT_SIDE / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    detail = _crop(_normalise_strokes(resize_float(crop, size)), 0.02)
    # MNIST fitted the binary digit into 20x20 and anti-aliased it after, so the box is measured at
    # half ink and the soft edges spill over it.
    fit = FIT_SIDE / max(_crop(detail, 0.5 * float(detail.max())).shape)  # frame pixels per detail pixel
    pad = math.ceil(FRAME_SIDE / fit)
    padded = np.pad(detail, pad)
    total = float(padded.sum())
    # Centre of mass in continuous coordinates (pixel i spans [i, i + 1]), as Pillow's box expects.
    cy = float(padded.sum(axis=1) @ np.arange(padded.shape[0])) / total + 0.5
    cx = float(padded.sum(axis=0) @ np.arange(padded.shape[1])) / total + 0.5
    before, after = (MNIST_CENTRE + 0.5) / fit, (FRAME_SIDE - MNIST_CENTRE - 0.5) / fit
    frame = resize_float(padded, (FRAME_SIDE, FRAME_SIDE), box=(cx - before, cy - before, cx + after, cy + after))
    frame = np.clip(frame / max(float(frame.max()), 1e-6), 0, 1)
    return np.asarray(np.round(frame * 255), dtype=np.uint8)
