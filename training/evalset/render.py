"""Drawing tools for the evaluation kinds: digits re-inked with any pen, paper, light and encoding.

Written for the evaluation set alone and deliberately independent of the framing code
(training.ink, training.framing): no constant or helper is shared, so a framing change cannot quietly
make its own test easier. A digit is reduced to its centre line (Zhang-Suen thinning of the MNIST
digit at twice its size) and painted again with a round pen of the wanted width, the way a marker, a
ballpoint or a 30 px canvas brush would have drawn the same path.
"""

from __future__ import annotations

import io
import math

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

Floats = NDArray[np.float32]
# Digit paths are traced on the MNIST digit enlarged this many times (thinning at 28x28 is too coarse).
TRACE_ZOOM = 2


def _neighbours(img: NDArray[np.uint8]) -> list[NDArray[np.uint8]]:
    """P2..P9 of Zhang-Suen (N, NE, E, SE, S, SW, W, NW) for every pixel of a zero-padded image."""
    p = np.pad(img, 1)
    h, w = img.shape
    offsets = [(0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0)]
    return [p[dy : dy + h, dx : dx + w] for dy, dx in offsets]


def thin(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Zhang-Suen thinning: a one-pixel-wide centre line of a binary shape."""
    img = mask.astype(np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            n = _neighbours(img)
            count = sum(v.astype(np.int32) for v in n)
            ring = n + [n[0]]
            transitions = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(np.int32) for i in range(8))
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            first, second = (p2 * p4 * p6, p4 * p6 * p8) if step == 0 else (p2 * p4 * p8, p2 * p6 * p8)
            side = (first == 0) & (second == 0)
            drop = (img == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if drop.any():
                img[drop] = 0
                changed = True
        if not changed:
            return img.astype(bool)


def _main_pieces(count: int, edges: list[tuple[int, int]]) -> NDArray[np.bool_]:
    """Which points belong to a connected piece of the path at least a fifth as long as the longest.

    Thinning leaves stray dots where the digit has faint specks; a pen would not draw them.
    """
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in edges:
        parent[root(a)] = root(b)
    roots = np.array([root(i) for i in range(count)])
    sizes = np.bincount(roots, minlength=count)
    return np.asarray(sizes[roots] >= 0.2 * sizes.max(), dtype=bool)


def digit_path(digit: NDArray[np.uint8]) -> tuple[NDArray[np.float64], list[tuple[int, int]]]:
    """Centre-line points (x, y) of an MNIST digit in a unit-height frame, and which points touch."""
    side = digit.shape[0] * TRACE_ZOOM
    big = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32)
    skeleton = thin(big > 100)
    rows, cols = np.nonzero(skeleton)
    index = -np.ones(skeleton.shape, dtype=np.int64)
    index[rows, cols] = np.arange(rows.size)
    edges = []
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        r, c = rows + dy, cols + dx
        ok = (r >= 0) & (r < side) & (c >= 0) & (c < side)
        other = np.full(rows.size, -1)
        other[ok] = index[r[ok], c[ok]]
        edges += [(int(a), int(b)) for a, b in zip(np.nonzero(other >= 0)[0], other[other >= 0], strict=True)]
    keep = _main_pieces(rows.size, edges)
    renumber = np.cumsum(keep) - 1
    edges = [(int(renumber[a]), int(renumber[b])) for a, b in edges if keep[a] and keep[b]]
    points = np.stack([cols[keep], rows[keep]], 1).astype(np.float64)
    height = max(float(np.ptp(points[:, 1])), 1.0)
    return (points - points.min(0)) / height, edges


def paint(
    digit: NDArray[np.uint8],
    rng: np.random.Generator,
    height: float,
    pen: float,
    *,
    smooth: bool = True,
    tilt: float = 8.0,
) -> Floats:
    """Ink coverage (0-1) of a digit re-drawn `height` px tall with a round pen `pen` px wide.

    The result is cropped to the ink, so the strokes touch all four edges. `smooth` anti-aliases the
    pen (drawn 4x larger and box-shrunk); without it edges are hard, like a mouse on a canvas.
    """
    points, edges = digit_path(digit)
    turn, shear = math.radians(rng.uniform(-tilt, tilt)), rng.uniform(-0.15, 0.15)
    x, y = points[:, 0] + shear * (points[:, 1] - 0.5), points[:, 1]
    xy = np.stack([x * math.cos(turn) - y * math.sin(turn), x * math.sin(turn) + y * math.cos(turn)], 1)
    zoom = 4 if smooth else 1
    core = max(height - pen, 1.0)
    xy = (xy - xy.min(0)) / max(float(np.ptp(xy[:, 1])), 1e-6) * core
    size = np.ceil(xy.max(0) + pen + 2).astype(int)
    canvas = Image.new("L", (int(size[0]) * zoom, int(size[1]) * zoom), 0)
    draw = ImageDraw.Draw(canvas)
    at = (xy + pen / 2 + 1) * zoom
    width = max(1, round(pen * zoom))
    for a, b in edges:
        draw.line([tuple(at[a]), tuple(at[b])], fill=255, width=width)
    r = pen * zoom / 2
    for px, py in at.tolist():
        draw.ellipse((px - r, py - r, px + r, py + r), fill=255)
    if smooth:
        canvas = canvas.reduce(zoom)
    coverage = np.asarray(canvas, dtype=np.float32) / np.float32(255)
    rows, cols = np.nonzero(coverage > 0.02)
    return coverage[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def place(coverage: Floats, margins: tuple[int, int, int, int]) -> Floats:
    """Put ink on a larger page: margins (top, bottom, left, right) in px; negative ones crop it."""
    top, bottom, left, right = margins
    cov = coverage[
        max(0, -top) : coverage.shape[0] - max(0, -bottom), max(0, -left) : coverage.shape[1] - max(0, -right)
    ]
    return np.pad(cov, ((max(0, top), max(0, bottom)), (max(0, left), max(0, right))))


def margins_for(coverage: Floats, rng: np.random.Generator, low: float, high: float) -> tuple[int, int, int, int]:
    """Random margins, each a share (low-high) of the digit's height."""
    return tuple(int(v) for v in (coverage.shape[0] * rng.uniform(low, high, 4)).round())  # type: ignore[return-value]


def lighting(height: int, width: int, rng: np.random.Generator, strength: float = 1.0) -> Floats:
    """A brightness factor: a gradient and a vignette, as a phone photo of a page has."""
    y = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * math.pi)
    light = 1 + strength * rng.uniform(0, 0.18) * (x * math.cos(angle) + y * math.sin(angle))
    light = light - strength * rng.uniform(0, 0.2) * (x * x + y * y) / 2
    return np.asarray(light, dtype=np.float32)


def grain(height: int, width: int, rng: np.random.Generator, amount: float, blur: float) -> Floats:
    """Paper texture: blurred noise (fibres, tooth) scaled to about `amount` levels."""
    noise = rng.normal(0, 1, (height, width)).astype(np.float32)
    if blur > 0:
        img = Image.fromarray(np.clip(noise * 40 + 128, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(blur))
        noise = (np.asarray(img, dtype=np.float32) - np.float32(128)) / np.float32(40)
        noise = noise / np.float32(max(float(noise.std()), 1e-6))
    return np.asarray(noise * amount, dtype=np.float32)


def ink_on(paper: Floats, coverage: Floats, ink: NDArray[np.float64] | tuple[float, ...]) -> Floats:
    """Lay ink of colour `ink` (RGB) with the given coverage over an (H, W, 3) page."""
    colour = np.asarray(ink, dtype=np.float32)
    return np.asarray(paper + coverage[..., None] * (colour - paper), dtype=np.float32)


def page(height: int, width: int, colour: NDArray[np.float64] | tuple[float, ...]) -> Floats:
    return np.broadcast_to(np.asarray(colour, dtype=np.float32), (height, width, 3)).copy()


def encode(
    rgb: Floats,
    rng: np.random.Generator,
    *,
    blur: float = 0.0,
    noise: float = 0.0,
    jpeg: bool = True,
    gray: bool = False,
) -> bytes:
    """Blur, add sensor noise and encode an (H, W, 3) float image as JPEG or PNG bytes."""
    image = Image.fromarray(np.clip(rgb, 0, 255).round().astype(np.uint8))
    if blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if noise > 0:
        arr = np.asarray(image, dtype=np.float32) + rng.normal(0, noise, (image.height, image.width, 1))
        image = Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8))
    if gray:
        image = image.convert("L")
    buffer = io.BytesIO()
    if jpeg:
        image.save(buffer, "JPEG", quality=int(rng.integers(60, 94)))
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
