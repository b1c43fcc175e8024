"""Images that are not a digit, as a public endpoint receives them: letters, symbols, shapes,
scribbles, photo-like pictures of things, noise. Labelled -1 ("not a digit").

Letters and symbols that a person could read as a digit (O, I, l, S, Z, B, g, q, b, ...) are left out:
refusing those would be wrong, not right.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from training.evalset.render import encode, lighting

Rendered = tuple[bytes, str]
LETTERS = "ACEFHKMNPRTUVWXYacefhkmnprtuvwxy"
SYMBOLS = "+=#@%&*$?!<>~€£¥§¶©®→←↑↓✓✗♥★☺☹♪∞≈÷×±"
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))


@cache
def fonts() -> tuple[Path, ...]:
    """TrueType fonts on this machine (sorted, so a seed picks the same font on the same machine)."""
    found = sorted(p for d in FONT_DIRS if d.is_dir() for p in d.rglob("*.ttf"))
    return tuple(found)


def font_families() -> dict[str, int]:
    """How many of the font files the letters and symbols are drawn with belong to each family (file
    name up to the first '-'), by family name."""
    return dict(sorted(Counter(path.stem.split("-")[0] for path in fonts()).items()))


def _font(rng: np.random.Generator, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    available = fonts()
    if not available:  # Pillow's own embedded font, so the set exists on a machine with no fonts
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(available[int(rng.integers(len(available)))]), size)


def _canvas(rng: np.random.Generator) -> tuple[Image.Image, tuple[int, int, int], tuple[int, int, int]]:
    width, height = int(rng.integers(80, 400)), int(rng.integers(80, 400))
    paper = tuple(int(v) for v in rng.uniform(215, 255, 3))
    ink = tuple(int(v) for v in rng.uniform(0, 80, 3))
    if rng.random() < 0.25:
        paper, ink = ink, paper
    return Image.new("RGB", (width, height), paper), paper, ink  # type: ignore[return-value]


def _finish(image: Image.Image, rng: np.random.Generator) -> Rendered:
    rgb = np.asarray(image, dtype=np.float32) * lighting(image.height, image.width, rng, 0.6)[..., None]
    jpeg = rng.random() < 0.6
    return encode(rgb, rng, blur=rng.uniform(0, 1.0), noise=rng.uniform(0, 4), jpeg=jpeg), ".jpg" if jpeg else ".png"


def _text(chars: str, rng: np.random.Generator, split: str) -> Rendered:
    image, _, ink = _canvas(rng)
    chars = chars[0::2] if split == "dev" else chars[1::2]  # the final split's characters are unseen
    char = chars[int(rng.integers(len(chars)))]
    size = int(min(image.size) * rng.uniform(0.4, 0.9))
    font = _font(rng, size)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), char, font=font)
    x = rng.uniform(0, max(1, image.width - (right - left))) - left
    y = rng.uniform(0, max(1, image.height - (bottom - top))) - top
    draw.text((x, y), char, fill=ink, font=font)
    return _finish(image.rotate(rng.uniform(-10, 10), Image.Resampling.BILINEAR, fillcolor=image.getpixel((0, 0))), rng)


def letter(rng: np.random.Generator, split: str) -> Rendered:
    return _text(LETTERS, rng, split)


def symbol(rng: np.random.Generator, split: str) -> Rendered:
    return _text(SYMBOLS, rng, split)


def _star(cx: float, cy: float, r: float, points: int) -> list[tuple[float, float]]:
    return [
        (
            cx + (r if i % 2 == 0 else r * 0.45) * math.sin(math.pi * i / points),
            cy - (r if i % 2 == 0 else r * 0.45) * math.cos(math.pi * i / points),
        )
        for i in range(2 * points)
    ]


def shape(rng: np.random.Generator, split: str) -> Rendered:
    """A square, triangle, star, heart, smiley, arrow, house or cross-hatched box, drawn with a pen."""
    image, _, ink = _canvas(rng)
    draw = ImageDraw.Draw(image)
    w, h = image.size
    r = min(w, h) * rng.uniform(0.25, 0.45)
    cx, cy = w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.1, 0.1) * h
    pen = max(1, round(r * rng.uniform(0.04, 0.15)))
    kind = int(rng.integers(8))
    if kind == 0:
        draw.rectangle((cx - r, cy - r * rng.uniform(0.6, 1), cx + r, cy + r), outline=ink, width=pen)
    elif kind == 1:
        draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], outline=ink, width=pen)
    elif kind == 2:
        draw.polygon(_star(cx, cy, r, int(rng.integers(5, 8))), outline=ink, width=pen)
    elif kind == 3:
        t = np.linspace(0, 2 * math.pi, 80)
        xs, ys = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        draw.line([(cx + r * a / 17, cy + r * b / 17) for a, b in zip(xs, ys, strict=True)], fill=ink, width=pen)
    elif kind == 4:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=pen)
        for side in (-1, 1):
            draw.ellipse(
                (
                    cx + side * r * 0.35 - pen * 1.5,
                    cy - r * 0.3 - pen * 1.5,
                    cx + side * r * 0.35 + pen * 1.5,
                    cy - r * 0.3 + pen * 1.5,
                ),
                fill=ink,
            )
        draw.arc((cx - r * 0.55, cy - r * 0.3, cx + r * 0.55, cy + r * 0.6), 20, 160, fill=ink, width=pen)
    elif kind == 5:
        draw.line(
            [(cx - r, cy), (cx + r, cy), (cx + r * 0.5, cy - r * 0.5), (cx + r, cy), (cx + r * 0.5, cy + r * 0.5)],
            fill=ink,
            width=pen,
            joint="curve",
        )
    elif kind == 6:
        draw.rectangle((cx - r * 0.7, cy - r * 0.1, cx + r * 0.7, cy + r), outline=ink, width=pen)
        draw.line([(cx - r * 0.9, cy), (cx, cy - r), (cx + r * 0.9, cy)], fill=ink, width=pen)
        draw.rectangle((cx - r * 0.2, cy + r * 0.4, cx + r * 0.2, cy + r), outline=ink, width=pen)
    else:
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), outline=ink, width=pen)
        for k in np.linspace(-r, r, int(rng.integers(4, 9))):
            draw.line([(cx + k - r * 0.5, cy - r), (cx + k + r * 0.5, cy + r)], fill=ink, width=max(1, pen // 2))
    return _finish(image, rng)


def scribble(rng: np.random.Generator, split: str) -> Rendered:
    """A random smooth pen path with many turns, or a zig-zag, or scribbled-out marks."""
    image, _, ink = _canvas(rng)
    w, h = image.size
    draw = ImageDraw.Draw(image)
    pen = max(1, round(min(w, h) * rng.uniform(0.01, 0.06)))
    count = int(rng.integers(6, 30))
    if rng.random() < 0.3:
        xs = np.linspace(0.1 * w, 0.9 * w, count)
        ys = h / 2 + (np.arange(count) % 2 - 0.5) * h * rng.uniform(0.2, 0.7) + rng.normal(0, h * 0.03, count)
    else:
        control = rng.uniform(0.1, 0.9, (count, 2)) * (w, h)
        t = np.linspace(0, count - 1, count * 12)
        xs, ys = np.interp(t, np.arange(count), control[:, 0]), np.interp(t, np.arange(count), control[:, 1])
        kernel = np.ones(9) / 9
        xs, ys = np.convolve(xs, kernel, "valid"), np.convolve(ys, kernel, "valid")
    draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=ink, width=pen, joint="curve")
    return _finish(image, rng)


def thing(rng: np.random.Generator, split: str) -> Rendered:
    """A photo-like picture of an object: a cup, a ball, a fruit, a bottle or a box on a table."""
    w, h = int(rng.integers(160, 480)), int(rng.integers(160, 480))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    wall, table = rng.uniform(60, 230, 3), rng.uniform(40, 200, 3)
    horizon = h * rng.uniform(0.4, 0.75)
    background = np.where((y < horizon)[..., None], wall, table).astype(np.float32)
    image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
    cx, base, r = w * rng.uniform(0.35, 0.65), horizon + (h - horizon) * 0.5, min(w, h) * rng.uniform(0.18, 0.32)
    kind = int(rng.integers(5))
    if kind == 0:  # cup with a handle
        draw.polygon(
            [(cx - r, base - 1.6 * r), (cx + r, base - 1.6 * r), (cx + 0.8 * r, base), (cx - 0.8 * r, base)],
            fill=colour,
        )
        draw.arc(
            (cx + 0.6 * r, base - 1.4 * r, cx + 1.5 * r, base - 0.4 * r),
            -90,
            90,
            fill=colour,
            width=max(2, round(r * 0.15)),
        )
    elif kind in (1, 2):  # ball or fruit, shaded
        draw.ellipse((cx - r, base - 2 * r, cx + r, base), fill=colour)
        if kind == 2:
            draw.line(
                [(cx, base - 2 * r), (cx + r * 0.2, base - 2.4 * r)], fill=(60, 40, 20), width=max(2, round(r * 0.1))
            )
    elif kind == 3:  # bottle
        draw.rectangle((cx - 0.5 * r, base - 2.2 * r, cx + 0.5 * r, base), fill=colour)
        draw.rectangle((cx - 0.18 * r, base - 3.0 * r, cx + 0.18 * r, base - 2.2 * r), fill=colour)
    else:  # box in perspective
        draw.polygon([(cx - r, base - r), (cx + r, base - r), (cx + r, base), (cx - r, base)], fill=colour)
        top = tuple(min(255, int(c * 1.3)) for c in colour)
        draw.polygon(
            [(cx - r, base - r), (cx - 0.6 * r, base - 1.5 * r), (cx + 1.4 * r, base - 1.5 * r), (cx + r, base - r)],
            fill=top,
        )
    # A highlight and a soft shadow make it a photo rather than a drawing.
    shade = 1 - 0.35 * np.clip((x - cx) / (2 * r), -1, 1)
    rgb = np.asarray(image, dtype=np.float32) * shade[..., None] * lighting(h, w, rng)[..., None]
    return encode(rgb, rng, blur=rng.uniform(0.5, 2.0), noise=rng.uniform(2, 6)), ".jpg"


def noise(rng: np.random.Generator, split: str) -> Rendered:
    """Noise: uniform, Gaussian, clouds (blurred), salt and pepper, colour noise, stripes."""
    w, h = int(rng.integers(28, 400)), int(rng.integers(28, 400))
    kind = int(rng.integers(6))
    if kind == 0:
        arr = rng.uniform(0, 255, (h, w, 1)).repeat(3, 2)
    elif kind == 1:
        arr = rng.normal(128, 50, (h, w, 1)).repeat(3, 2)
    elif kind == 2:
        small = rng.uniform(0, 255, (max(2, h // 16), max(2, w // 16), 3)).astype(np.uint8)
        arr = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    elif kind == 3:
        arr = np.full((h, w, 3), rng.uniform(0, 255))
        pick = rng.random((h, w))
        arr[pick < 0.05] = 0
        arr[pick > 0.95] = 255
    elif kind == 4:
        arr = rng.uniform(0, 255, (h, w, 3))
    else:
        period = rng.uniform(4, 30)
        y, x = np.mgrid[0:h, 0:w]
        angle = rng.uniform(0, math.pi)
        arr = (127 + 120 * np.sin((x * math.cos(angle) + y * math.sin(angle)) * 2 * math.pi / period))[
            ..., None
        ].repeat(3, 2)
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2)))
    jpeg = rng.random() < 0.5
    return encode(np.asarray(image, dtype=np.float32), rng, jpeg=jpeg), ".jpg" if jpeg else ".png"


NonDigitRenderer = Callable[[np.random.Generator, str], Rendered]
NONDIGITS: dict[str, NonDigitRenderer] = {
    "letters": letter,
    "symbols": symbol,
    "shapes": shape,
    "scribbles": scribble,
    "objects": thing,
    "noise": noise,
}
