"""Digits drawn by a script, as in a paint program: polylines and arcs with jitter, various pens."""

from __future__ import annotations

import io
import math

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

Stroke = list[tuple[float, float]]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, stop: float) -> Stroke:
    """Points along an ellipse in a y-down unit box; angles in degrees, 0 = right, 90 = down."""
    count = max(8, int(abs(stop - start) / 10))
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in np.linspace(start, stop, count)
    ]


# Each digit has a few ways of writing it; each way is a list of strokes in a unit box (y down).
SHAPES: dict[int, list[list[Stroke]]] = {
    0: [[_arc(0.5, 0.5, 0.3, 0.5, -90, 275)], [_arc(0.5, 0.5, 0.4, 0.5, -100, 265)]],
    1: [
        [[(0.5, 0.0), (0.5, 1.0)]],
        [[(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)]],
        [[(0.3, 0.2), (0.5, 0.0), (0.5, 1.0)], [(0.3, 1.0), (0.7, 1.0)]],
    ],
    2: [
        [_arc(0.5, 0.3, 0.3, 0.3, 200, 380) + [(0.2, 1.0), (0.85, 1.0)]],
        [_arc(0.5, 0.28, 0.32, 0.28, 190, 400) + [(0.15, 0.95), (0.3, 0.85), (0.6, 1.0), (0.85, 0.95)]],
    ],
    3: [
        [_arc(0.5, 0.27, 0.28, 0.27, 200, 450) + _arc(0.5, 0.73, 0.3, 0.27, 270, 520)],
        [[(0.2, 0.0), (0.8, 0.0), (0.45, 0.4)] + _arc(0.5, 0.7, 0.32, 0.3, 270, 510)],
    ],
    4: [
        [[(0.65, 1.0), (0.65, 0.0), (0.1, 0.7), (0.9, 0.7)]],
        [[(0.25, 0.0), (0.15, 0.6), (0.85, 0.6)], [(0.68, 0.2), (0.68, 1.0)]],
    ],
    5: [
        [[(0.8, 0.0), (0.3, 0.0), (0.25, 0.45)] + _arc(0.5, 0.68, 0.32, 0.32, 225, 505)],
        [[(0.27, 0.0), (0.22, 0.45)] + _arc(0.5, 0.68, 0.32, 0.32, 225, 505), [(0.27, 0.0), (0.8, 0.0)]],
    ],
    6: [
        [[(0.75, 0.0), (0.45, 0.15), (0.25, 0.45), (0.2, 0.7)] + _arc(0.5, 0.7, 0.3, 0.3, 180, 540)],
        [_arc(1.0, 0.75, 0.8, 0.75, 240, 180) + _arc(0.5, 0.72, 0.3, 0.28, 180, 530)],
    ],
    7: [
        [[(0.15, 0.0), (0.85, 0.0), (0.4, 1.0)]],
        [[(0.15, 0.1), (0.15, 0.0), (0.85, 0.0), (0.45, 1.0)], [(0.35, 0.5), (0.8, 0.5)]],
    ],
    8: [
        [_arc(0.5, 0.25, 0.25, 0.25, 90, 450), _arc(0.5, 0.72, 0.3, 0.28, -90, 270)],
        [_arc(0.5, 0.25, 0.27, 0.25, 135, 405) + _arc(0.5, 0.72, 0.3, 0.28, -135, 225)],
    ],
    9: [
        [_arc(0.5, 0.3, 0.3, 0.3, 0, 360), [(0.8, 0.3), (0.75, 1.0)]],
        [_arc(0.5, 0.3, 0.3, 0.3, 0, 360), [(0.8, 0.3), (0.75, 0.8), (0.55, 1.0), (0.3, 0.95)]],
    ],
}


def _place(strokes: list[Stroke], rng: np.random.Generator, height: float) -> list[NDArray[np.float64]]:
    """Jitter points, slant, squeeze and rotate a shape, scaled so it is `height` pixels tall."""
    slant, squeeze, turn = rng.uniform(-0.35, 0.15), rng.uniform(0.6, 1.1), math.radians(rng.uniform(-8, 8))
    # A hand wobbles smoothly: one low-frequency displacement field per digit, not noise per point.
    freq, phase, amp = rng.uniform(2, 5, (2, 2)), rng.uniform(0, 2 * math.pi, 2), rng.uniform(0, 0.04, 2)
    placed = []
    for stroke in strokes:
        p = np.asarray(stroke, dtype=np.float64)
        p = p + amp * np.sin(p @ freq + phase) + rng.normal(0, 0.004, p.shape)
        x, y = (p[:, 0] - 0.5) * squeeze + slant * (p[:, 1] - 0.5), p[:, 1] - 0.5
        placed.append(np.stack([x * math.cos(turn) - y * math.sin(turn), x * math.sin(turn) + y * math.cos(turn)], 1))
    return [p * height for p in placed]


def draw_digit(label: int, rng: np.random.Generator) -> bytes:
    """PNG bytes of one scripted digit, dark on light, at a random size, pen width and position."""
    shapes = SHAPES[label]
    height = rng.uniform(24, 400)
    pen = max(1.0, height * rng.choice([rng.uniform(0.02, 0.06), rng.uniform(0.06, 0.14), rng.uniform(0.14, 0.22)]))
    strokes = _place(shapes[int(rng.integers(len(shapes)))], rng, height)
    points = np.concatenate(strokes)
    low, high = points.min(0), points.max(0)
    margin = pen + height * rng.uniform(0.05, 0.8, 2)
    width, tall = (high - low + 2 * margin).round().astype(int)
    smooth = rng.random() < 0.5
    zoom = 4 if smooth else 1  # anti-aliased pens are drawn large and shrunk
    paper, ink = int(rng.uniform(215, 256)), int(rng.uniform(0, 90))
    canvas = Image.new("L", (int(width) * zoom, int(tall) * zoom), paper)
    draw = ImageDraw.Draw(canvas)
    for stroke in strokes:
        xy = [tuple(v) for v in ((stroke - low + margin) * zoom).tolist()]
        draw.line(xy, fill=ink, width=max(1, round(pen * zoom)), joint="curve")
        r = pen * zoom / 2
        for x, y in (xy[0], xy[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    if smooth:
        canvas = canvas.resize((int(width), int(tall)), Image.Resampling.BOX)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()
