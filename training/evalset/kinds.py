"""The kinds of digit images people send that the first evaluation set lacked (issue 9).

Each renderer takes one source digit and a random generator and returns the encoded upload and its
suffix. MNIST *test* digits are the source of every kind except `lowres`, which uses the UCI scans of
other writers; the split (dev or final) decides which source digits and seeds are used, never how an
image is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from training.evalset.render import (
    Floats,
    encode,
    grain,
    ink_on,
    lighting,
    margins_for,
    page,
    paint,
    place,
    png,
)

Rendered = tuple[bytes, str]
PAPERS = ((250, 250, 248), (242, 238, 225), (235, 235, 235), (225, 228, 232))
DARK_INKS = ((20, 20, 25), (25, 35, 110), (40, 40, 45), (15, 25, 70))


def _paper(rng: np.random.Generator) -> NDArray[np.float64]:
    return np.asarray(PAPERS[int(rng.integers(len(PAPERS)))], dtype=np.float64) * rng.uniform(0.88, 1.02)


def _ink(rng: np.random.Generator) -> NDArray[np.float64]:
    return np.asarray(DARK_INKS[int(rng.integers(len(DARK_INKS)))], dtype=np.float64) + rng.uniform(0, 30)


def _photo(coverage: Floats, rng: np.random.Generator, ink: NDArray[np.float64], light: float = 1.0) -> bytes:
    """Dark ink on paper, photographed: lighting, a little blur and noise, JPEG."""
    h, w = coverage.shape
    rgb = ink_on(page(h, w, _paper(rng)), coverage, ink) * lighting(h, w, rng, light)[..., None]
    return encode(rgb, rng, blur=rng.uniform(0, 1.2), noise=rng.uniform(1, 5))


def tight(digit: NDArray[np.uint8], rng: np.random.Generator) -> Rendered:
    """A crop tool cut close round the digit: ink to the edges, sometimes slightly into it."""
    height = rng.uniform(28, 320)
    coverage = paint(digit, rng, height, height * rng.uniform(0.05, 0.14))
    cut = int(rng.integers(-2, 3))  # px of margin; negative cuts into the ink
    coverage = place(coverage, tuple(int(v) for v in rng.integers(min(cut, 0), max(cut, 0) + 1, 4)))  # type: ignore[arg-type]
    if rng.random() < 0.5:
        return _photo(coverage, rng, _ink(rng), light=0.3), ".jpg"
    h, w = coverage.shape
    return encode(ink_on(page(h, w, _paper(rng)), coverage, _ink(rng)), rng, jpeg=False, gray=True), ".png"


def marker(digit: NDArray[np.uint8], rng: np.random.Generator) -> Rendered:
    """A felt marker: strokes a sixth to a third of the digit's height wide, photographed."""
    height = rng.uniform(60, 360)
    coverage = paint(digit, rng, height, height * rng.uniform(0.14, 0.3))
    coverage = place(coverage, margins_for(coverage, rng, 0.0, 0.7))
    return _photo(coverage, rng, _ink(rng) * 0.6), ".jpg"


def canvas(digit: NDArray[np.uint8], rng: np.random.Generator) -> Rendered:
    """A 280x280 drawing canvas, finger or mouse with a 20-40 px brush; some transparent PNGs."""
    size = 280
    height = rng.uniform(110, 260)
    coverage = paint(digit, rng, height, rng.uniform(20, 40), smooth=rng.random() < 0.6)
    h, w = coverage.shape
    if w > size:
        coverage = np.asarray(
            Image.fromarray(coverage).resize((size, max(1, round(h * size / w))), Image.Resampling.BILINEAR),
            dtype=np.float32,
        )
        h, w = coverage.shape
    top, left = int(rng.integers(0, size - min(h, size) + 1)), int(rng.integers(0, size - w + 1))
    full = np.zeros((size, size), np.float32)
    full[top : top + min(h, size - top), left : left + w] = coverage[: size - top]
    alpha = Image.fromarray(np.round(full * 255).astype(np.uint8))
    style = int(rng.integers(5))
    if style == 0:  # black on white
        return png(Image.eval(alpha, lambda v: 255 - v)), ".png"
    if style == 1:  # white on black
        return png(alpha), ".png"
    # Transparent canvas: the colour is the same everywhere, the strokes live only in the alpha channel.
    colour = [(0, 0, 0), (255, 255, 255), (30, 60, 200)][style - 2]
    image = Image.new("RGBA", (size, size), (*colour, 0))
    image.putalpha(alpha)
    return png(image), ".png"


def lowres(counts: NDArray[np.uint8], rng: np.random.Generator) -> Rendered:
    """A UCI 8x8 digit seen as an 8-32 px scan, enlarged blocky or blurry, with or without margin."""
    res = int(rng.choice([8, 10, 12, 16, 20, 24, 32]))
    small = Image.fromarray(counts.astype(np.float32) / 16).resize((res, res), Image.Resampling.BILINEAR)
    coverage = np.clip(np.asarray(small, dtype=np.float32), 0, 1)
    if rng.random() < 0.5:
        coverage = place(coverage, tuple(int(v) for v in rng.integers(0, max(2, res // 4), 4)))  # type: ignore[arg-type]
    paper, ink = rng.uniform(200, 252), rng.uniform(0, 80)
    scan = np.clip(paper + coverage * (ink - paper), 0, 255).round().astype(np.uint8)
    method = [Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC][int(rng.integers(3))]
    factor = rng.uniform(64, 320) / max(scan.shape)
    size = (max(1, round(scan.shape[1] * factor)), max(1, round(scan.shape[0] * factor)))
    return png(Image.fromarray(scan).resize(size, method)), ".png"


def pencil(digit: NDArray[np.uint8], rng: np.random.Generator) -> Rendered:
    """Light pencil on textured paper: grey, grainy strokes only 25-70 levels darker than the paper."""
    height = rng.uniform(60, 300)
    coverage = paint(digit, rng, height, max(1.5, height * rng.uniform(0.03, 0.07)))
    coverage = place(coverage, margins_for(coverage, rng, 0.1, 0.8))
    h, w = coverage.shape
    graphite = np.clip(coverage * (0.7 + 0.3 * rng.random((h, w))), 0, 1).astype(np.float32)
    paper = page(h, w, _paper(rng)) + grain(h, w, rng, rng.uniform(2, 6), rng.uniform(0.5, 1.5))[..., None]
    depth = rng.uniform(25, 70)
    rgb = (paper - depth * graphite[..., None]) * lighting(h, w, rng)[..., None]
    return encode(rgb, rng, blur=rng.uniform(0, 0.8), noise=rng.uniform(1, 4)), ".jpg"


def _ruled(h: int, w: int, rng: np.random.Generator, spacing: float, grid: bool) -> Floats:
    """Line coverage of ruled (or squared) paper with lines `spacing` px apart."""
    image = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(image)
    width = max(1, round(spacing * rng.uniform(0.03, 0.08)))
    for y in np.arange(rng.uniform(0, spacing), h, spacing):
        draw.line([(0, y), (w, y)], fill=255, width=width)
    if grid:
        for x in np.arange(rng.uniform(0, spacing), w, spacing):
            draw.line([(x, 0), (x, h)], fill=255, width=width)
    return np.asarray(image, dtype=np.float32) / np.float32(255)


def lined(digit: NDArray[np.uint8], rng: np.random.Generator, grid: bool = False) -> Rendered:
    """A digit on ruled notebook paper (blue or grey lines, sometimes a red margin line)."""
    height = rng.uniform(60, 300)
    coverage = paint(digit, rng, height, height * rng.uniform(0.05, 0.12))
    coverage = place(coverage, margins_for(coverage, rng, 0.2, 0.9))
    h, w = coverage.shape
    spacing = height / (rng.uniform(1.5, 4.0) if grid else rng.uniform(0.8, 1.8))
    lines = _ruled(h, w, rng, spacing, grid) * rng.uniform(0.5, 1.0)
    line_colour = [(120, 160, 220), (150, 150, 160), (90, 140, 210)][int(rng.integers(3))]
    rgb = ink_on(page(h, w, _paper(rng)), lines, line_colour)
    if not grid and rng.random() < 0.4:
        margin = np.zeros((h, w), np.float32)
        x = int(rng.integers(0, max(1, w // 4)))
        margin[:, x : x + max(1, round(spacing * 0.05))] = 0.8
        rgb = ink_on(rgb, margin, (220, 80, 90))
    rgb = ink_on(rgb, coverage, _ink(rng)) * lighting(h, w, rng)[..., None]
    return encode(rgb, rng, blur=rng.uniform(0, 1.0), noise=rng.uniform(1, 4)), ".jpg"


def squared(digit: NDArray[np.uint8], rng: np.random.Generator) -> Rendered:
    """A digit on squared (grid) paper."""
    return lined(digit, rng, grid=True)


def shadow(digit: NDArray[np.uint8], rng: np.random.Generator) -> Rendered:
    """A hard shadow (a phone or a hand) falls across part of the digit."""
    height = rng.uniform(60, 320)
    coverage = paint(digit, rng, height, height * rng.uniform(0.05, 0.14))
    coverage = place(coverage, margins_for(coverage, rng, 0.1, 0.7))
    h, w = coverage.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    # The edge passes through the digit's middle third, so the shadow always cuts the strokes.
    cy, cx = h * rng.uniform(0.35, 0.65), w * rng.uniform(0.35, 0.65)
    side = (x - cx) * math.cos(angle) + (y - cy) * math.sin(angle)
    softness = rng.uniform(0.5, 3.0)
    dark = 1 / (1 + np.exp(np.clip(-side / softness, -50, 50)))
    light = 1 - rng.uniform(0.35, 0.65) * dark
    rgb = ink_on(page(h, w, _paper(rng)), coverage, _ink(rng)) * (light * lighting(h, w, rng, 0.5))[..., None]
    return encode(rgb, rng, blur=rng.uniform(0, 0.8), noise=rng.uniform(1, 4)), ".jpg"


INK_COLOURS = ((200, 30, 40), (30, 140, 60), (40, 80, 220), (120, 40, 160), (230, 110, 20), (110, 60, 30))
PAPER_COLOURS = ((250, 250, 248), (250, 240, 140), (250, 200, 210), (190, 225, 245), (242, 238, 225))


def colour(digit: NDArray[np.uint8], rng: np.random.Generator) -> Rendered:
    """Coloured ink (red, green, blue, purple, orange, brown) on white or coloured paper."""
    height = rng.uniform(50, 320)
    coverage = paint(digit, rng, height, height * rng.uniform(0.05, 0.15))
    coverage = place(coverage, margins_for(coverage, rng, 0.05, 0.8))
    h, w = coverage.shape
    ink = np.asarray(INK_COLOURS[int(rng.integers(len(INK_COLOURS)))], dtype=np.float64)
    paper = np.asarray(PAPER_COLOURS[int(rng.integers(len(PAPER_COLOURS)))], dtype=np.float64)
    rgb = ink_on(page(h, w, paper), coverage, ink) * lighting(h, w, rng, 0.6)[..., None]
    jpeg = rng.random() < 0.6
    return encode(
        rgb, rng, blur=rng.uniform(0, 0.8) if jpeg else 0, noise=rng.uniform(1, 4) if jpeg else 0, jpeg=jpeg
    ), (".jpg" if jpeg else ".png")


def inverted(digit: NDArray[np.uint8], rng: np.random.Generator) -> Rendered:
    """Light on dark: chalk on a blackboard, a dark-mode drawing, white pen on black card."""
    height = rng.uniform(50, 320)
    coverage = paint(digit, rng, height, height * rng.uniform(0.05, 0.16))
    coverage = place(coverage, margins_for(coverage, rng, 0.05, 0.8))
    h, w = coverage.shape
    board = [(30, 45, 40), (20, 20, 22), (40, 40, 50), (10, 10, 10)][int(rng.integers(4))]
    chalk = [(235, 235, 230), (250, 250, 250), (240, 230, 150)][int(rng.integers(3))]
    if rng.random() < 0.5:  # chalk: broken, grainy strokes on a smudged board
        coverage = np.clip(coverage * (0.55 + 0.45 * rng.random((h, w))), 0, 1).astype(np.float32)
        base = page(h, w, board) + grain(h, w, rng, rng.uniform(3, 8), 3.0)[..., None]
        rgb = ink_on(base, coverage, chalk) * lighting(h, w, rng)[..., None]
        return encode(rgb, rng, blur=rng.uniform(0.3, 1.2), noise=rng.uniform(2, 5)), ".jpg"
    return encode(ink_on(page(h, w, board), coverage, chalk), rng, jpeg=False), ".png"


DigitRenderer = Callable[[NDArray[np.uint8], np.random.Generator], Rendered]
KINDS: dict[str, DigitRenderer] = {
    "tight": tight,
    "marker": marker,
    "canvas": canvas,
    "lowres": lowres,
    "pencil": pencil,
    "lined": lined,
    "squared": squared,
    "shadow": shadow,
    "colour": colour,
    "inverted": inverted,
}
