"""Pen strokes from MNIST digits, for drawing them on the page with real pointer events.

The digit is enlarged, thresholded and thinned to a one-pixel skeleton (Zhang-Suen), and the skeleton's
pixels are walked into polylines, each starting at a free end where there is one. Nothing here
knows about the service: it only turns someone else's handwriting back into pen movements.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

UPSCALE = 4  # thin at 112x112: smoother strokes than the 28x28 grid gives
INK_LEVEL = 110
_NEIGHBOURS = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]  # P2..P9, clockwise

Point = tuple[float, float]


def thin(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Zhang & Suen (1984): peel boundary pixels in two alternating sub-steps until none can go."""
    image = np.pad(mask, 1).astype(np.uint8)
    height, width = mask.shape
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = [image[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in _NEIGHBOURS]
            centre = image[1:-1, 1:-1]
            neighbours = sum(x.astype(np.int32) for x in p)
            ring = p + [p[0]]
            transitions = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(np.int32) for i in range(8))
            p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
            if step == 0:
                first, second = p2 * p4 * p6 == 0, p4 * p6 * p8 == 0
            else:
                first, second = p2 * p4 * p8 == 0, p2 * p6 * p8 == 0
            remove = (centre == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & first & second
            if remove.any():
                centre[remove] = 0
                changed = True
    return image[1:-1, 1:-1].astype(bool)


def _walk(skeleton: NDArray[np.bool_]) -> list[list[tuple[int, int]]]:
    pixels = {(int(r), int(c)) for r, c in zip(*np.nonzero(skeleton), strict=True)}
    remaining = set(pixels)

    def around(pixel: tuple[int, int], pool: set[tuple[int, int]]) -> list[tuple[int, int]]:
        r, c = pixel
        return [(r + dr, c + dc) for dr, dc in _NEIGHBOURS if (r + dr, c + dc) in pool]

    paths = []
    while remaining:
        ends = sorted(p for p in remaining if len(around(p, remaining)) == 1)
        start = ends[0] if ends else min(remaining)
        path = [start]
        remaining.discard(start)
        while True:
            current = path[-1]
            options = around(current, remaining)
            if not options:
                break
            # Straight (4-connected) steps first, so diagonals do not skip a corner pixel.
            step = min(options, key=lambda q: abs(q[0] - current[0]) + abs(q[1] - current[1]))
            path.append(step)
            remaining.discard(step)
        # A branch stops one pixel short of the junction it grew from: join it back on.
        visited = pixels - remaining - set(path)
        tail_joins, head_joins = around(path[-1], visited), around(path[0], visited)
        if tail_joins:
            path.append(tail_joins[0])
        if head_joins:
            path.insert(0, head_joins[0])
        if len(path) >= UPSCALE:  # one-pixel spurs of the thinning are not strokes
            paths.append(path)
    return paths


def digit_strokes(image: NDArray[np.uint8], size: float) -> list[list[Point]]:
    """Strokes that redraw a 28x28 MNIST IMAGE on a SIZE x SIZE canvas, in canvas coordinates."""
    big = np.asarray(
        Image.fromarray(image).resize((28 * UPSCALE, 28 * UPSCALE), Image.Resampling.BILINEAR), dtype=np.uint8
    )
    skeleton = thin(big >= INK_LEVEL)
    scale = size / (28 * UPSCALE)
    strokes = []
    for path in _walk(skeleton):
        points = path[::2] if len(path) > 2 else path
        if points[-1] != path[-1]:
            points.append(path[-1])
        strokes.append([((c + 0.5) * scale, (r + 0.5) * scale) for r, c in points])
    return strokes
