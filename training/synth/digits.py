"""Render an MNIST training digit as a real upload might show it: one of many media at random.

The digit's ink comes from the MNIST image itself: enlarged, smoothed and cut at a random level set
(so its contour, pressure and proportions are the writer's), jittered by a small rotation and shear,
then re-weighted to the medium's stroke width and laid on paper, a canvas or a screen by
training.synth.media. A share stays plain MNIST (28x28, light on black) with small changes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from training.synth import media
from training.synth.strokes import Coverage, blur, crop_ink, fit_height, harden, ink_box, jitter

# The styles and how often each is drawn; plain MNIST keeps the model on its home ground.
DIGIT_STYLES: dict[str, float] = {
    "plain": 0.10,
    "mnist_like": 0.03,
    "canvas": 0.10,
    "marker": 0.07,
    "pen": 0.07,
    "pencil": 0.06,
    "lined": 0.07,
    "squared": 0.05,
    "shadow": 0.06,
    "colour": 0.05,
    "inverted": 0.06,
    "tight": 0.08,
    "margin": 0.04,
    "lowres": 0.08,
    "blurry": 0.04,
    "scan": 0.04,
}


def digit_shape(digit: NDArray[np.uint8]) -> media.Shape:
    """The digit's ink at any height: an enlarged, smoothed level set of the MNIST image."""
    if digit.shape != (28, 28) or digit.dtype != np.uint8:
        raise ValueError(f"expected a (28, 28) uint8 MNIST digit, got {digit.shape} {digit.dtype}")
    box = ink_box(digit.astype(np.float32) * np.float32(1 / 255), 0.1)
    if box is None:
        raise ValueError("the digit has no ink")

    def draw(height: int, rng: np.random.Generator) -> Coverage:
        top, bottom, left, right = box
        crop = np.pad(digit[top:bottom, left:right], 2)
        detail = max(height, 48)  # drawn at least this tall, then shrunk: small sizes stay anti-aliased
        scale = detail / (bottom - top)
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        enlarged = Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC)
        smooth = np.asarray(enlarged.filter(ImageFilter.GaussianBlur(0.45 * scale)), np.float32) * np.float32(1 / 255)
        cov = crop_ink(harden(smooth, float(rng.uniform(0.3, 0.55)), 0.12))
        cov = jitter(cov, rng)
        return fit_height(cov, height)

    return draw


def _plain(digit: NDArray[np.uint8], rng: np.random.Generator) -> Image.Image:
    """MNIST as it is, or with a small shift, contrast change, bolder or lighter strokes, or noise."""
    pixels = digit.astype(np.float32)
    choice = rng.random()
    if choice < 0.2:
        pixels = np.asarray(Image.fromarray(digit).filter(ImageFilter.MaxFilter(3)), np.float32)
        pixels = 0.5 * pixels + 0.5 * digit  # half a dilation: MNIST's bolder writers
    elif choice < 0.3:
        pixels = 255 * blur(pixels * np.float32(1 / 255), 0.6)
    dy, dx = rng.integers(-2, 3, 2)
    pixels = np.roll(pixels, (int(dy), int(dx)), axis=(0, 1))
    pixels = pixels * rng.uniform(0.75, 1.0)
    if rng.random() < 0.4:
        pixels = pixels + np.abs(rng.normal(0, rng.uniform(1, 8), pixels.shape))
    return Image.fromarray(np.asarray(np.clip(pixels + 0.5, 0, 255), np.uint8), "L")


def style_names() -> tuple[str, ...]:
    return tuple(DIGIT_STYLES)


def render_digit_as(digit: NDArray[np.uint8], rng: np.random.Generator, style: str) -> Image.Image:
    """Render in a named style (see DIGIT_STYLES)."""
    if style == "plain":
        return _plain(digit, rng)
    try:
        paint: Callable[[media.Shape, np.random.Generator], Image.Image] = media.PAPER_STYLES[style]
    except KeyError:
        raise ValueError(f"unknown digit style {style!r}; expected one of {', '.join(DIGIT_STYLES)}") from None
    return paint(digit_shape(digit), rng)


def pick_style(rng: np.random.Generator) -> str:
    names = list(DIGIT_STYLES)
    weights = np.asarray([DIGIT_STYLES[n] for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def render_digit_styled(digit: NDArray[np.uint8], rng: np.random.Generator) -> tuple[str, Image.Image]:
    style = pick_style(rng)
    return style, render_digit_as(digit, rng, style)


def render_digit(digit: NDArray[np.uint8], rng: np.random.Generator) -> Image.Image:
    """One random rendering of a 28x28 MNIST digit, in a style picked at random."""
    return render_digit_styled(digit, rng)[1]
