"""Media: lay a shape's ink (training.synth.strokes) on paper, a drawing canvas or a screen.

Each style is a function `(shape, rng) -> PIL image` that picks its own sizes, colours, paper and
camera at random and renders the shape with them, so digits and non-digits share every medium.
A shape is a callable giving the coverage map of its ink at a requested height in pixels.

The paper, lighting, rulings, grain and camera artefacts here are this package's own (smooth random
fields, half-plane shadows, row and column profiles for rulings), written for training; the
evaluation set (training.evalset) has its own generators and nothing is shared with it.
"""

from __future__ import annotations

import colorsys
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from training.synth.strokes import Coverage, crop_ink, fit_height, harden, ink_box, set_width

Shape = Callable[[int, np.random.Generator], Coverage]
Style = Callable[[Shape, np.random.Generator], Image.Image]
Rgb = tuple[float, float, float]
Float = NDArray[np.float32]

# A shadow lets this share of the light through. Darker ones (down to 0.3) are real, but the framing
# keeps their edges as ink in about half of the frames (a wedge labelled as a digit teaches nothing).
SHADOW_DEPTH = (0.45, 0.8)
MAX_SIDE = 512  # the framing box-reduces anything larger to at most this, so larger costs without adding


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _chance(rng: np.random.Generator, p: float) -> bool:
    return bool(rng.random() < p)


def smooth_field(h: int, w: int, rng: np.random.Generator, cells: int) -> Float:
    """A smooth random field (about unit spread) varying over `cells` blotches across the image."""
    grid = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    return np.asarray(Image.fromarray(grid, "F").resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)


def _axes(h: int, w: int) -> tuple[Float, Float]:
    """Row and column coordinates in [0, 1] as broadcastable (h, 1) and (1, w) arrays."""
    return np.linspace(0, 1, h, dtype=np.float32)[:, None], np.linspace(0, 1, w, dtype=np.float32)[None, :]


def lighting(h: int, w: int, rng: np.random.Generator, strength: float) -> Float:
    """Multiplicative light: a linear falloff in a random direction and a soft vignette."""
    yy, xx = _axes(h, w)
    angle = _uniform(rng, 0, 2 * math.pi)
    c, s = math.cos(angle), math.sin(angle)
    ramp = c * xx + s * yy - (min(c, 0) + min(s, 0))  # 0 .. |c| + |s|
    ramp = ramp / (abs(c) + abs(s))
    cy, cx = _uniform(rng, 0.2, 0.8), _uniform(rng, 0.2, 0.8)
    vignette = (yy - cy) ** 2 + (xx - cx) ** 2
    light = 1 - strength * ramp - _uniform(rng, 0, strength) * vignette
    return np.clip(light, 0.3, 1.1).astype(np.float32)


def hard_shadow(h: int, w: int, rng: np.random.Generator, box: tuple[int, int, int, int]) -> Float:
    """A half-plane shadow (a hand, a phone) whose edge crosses the ink's box: light factor per pixel."""
    top, bottom, left, right = box
    py, px = _uniform(rng, top, bottom), _uniform(rng, left, right)
    angle = _uniform(rng, 0, 2 * math.pi)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    distance = (xx - px) * math.cos(angle) + (yy - py) * math.sin(angle)
    edge = _uniform(rng, 0.5, 0.03 * max(h, w) + 1)
    inside = np.clip(distance / edge + 0.5, 0, 1)
    depth = _uniform(rng, *SHADOW_DEPTH)  # the shadow lets this share of the light through
    return (1 - (1 - depth) * inside).astype(np.float32)


def _rule_profile(n: int, rng: np.random.Generator, spacing: float, width: float) -> Float:
    """Coverage along one axis of evenly spaced ruled lines."""
    profile = np.zeros(n, np.float32)
    start = _uniform(rng, 0, spacing)
    strength = _uniform(rng, 0.5, 1.0)
    position = start
    while position < n:
        a = int(position)
        profile[a : a + max(1, round(width))] = strength
        position += spacing
    return profile


@dataclass
class Look:
    """Everything a paper-like rendering needs; styles fill it at random."""

    height: int  # ink height in px
    canvas: tuple[int, int]  # (h, w) before any crop
    stroke: float | None  # target mean stroke width in px; None keeps the shape's own
    paper: Rgb = (235.0, 235.0, 230.0)
    ink: Rgb = (20.0, 20.0, 25.0)
    blotches: float = 0.0  # paper tone variation, levels
    grain: float = 0.0  # fine paper grain, levels
    ink_grain: float = 0.0  # 0..1: how much of the ink's coverage grain takes away (pencil, chalk)
    rules: float = 0.0  # ruled-line spacing in px (0: none)
    squared: bool = False  # columns as well as rows
    rule_colour: Rgb = (150.0, 180.0, 230.0)
    rule_width: float = 1.0
    margin_line: bool = False
    light: float = 0.0  # lighting falloff strength
    shadow: bool = False
    blur: float = 0.0
    noise: float = 0.0  # sensor noise sigma, levels
    crop: tuple[float, float, float, float] | None = None  # tight crop margins (top, bottom, left, right) / height
    gray: bool = False  # a grayscale file (scanner, canvas export)
    colour: bool = False  # rendered in RGB; otherwise in luminance, which is all the server keeps
    jpeg: int | None = None
    resize_to: int | None = None  # long side of a final resize (a client shrinking its photo)
    extras: dict[str, float] = field(default_factory=dict)


def _place(canvas: tuple[int, int], shape_hw: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    (ch, cw), (sh, sw) = canvas, shape_hw
    top = int(rng.integers(0, ch - sh + 1)) if ch > sh else (ch - sh) // 2
    left = int(rng.integers(0, cw - sw + 1)) if cw > sw else (cw - sw) // 2
    return top, left


def _paste(canvas: tuple[int, int], cov: Coverage, top: int, left: int) -> Coverage:
    """The shape's coverage at (top, left) on an empty canvas, clipped to it."""
    out = np.zeros(canvas, np.float32)
    h, w = cov.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, canvas[0]), min(left + w, canvas[1])
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = cov[y0 - top : y1 - top, x0 - left : x1 - left]
    return out


def encode(image: Image.Image, jpeg: int | None) -> Image.Image:
    """What the server decodes from the client's file: a JPEG round trip at `jpeg` quality.

    PNG is lossless, so a PNG upload decodes to exactly this image and needs no round trip.
    """
    if jpeg is None:
        return image
    buffer = io.BytesIO()
    image.convert("L" if image.mode == "L" else "RGB").save(buffer, format="JPEG", quality=jpeg)
    buffer.seek(0)
    decoded = Image.open(buffer)
    decoded.load()
    return decoded


def paint(shape: Shape, rng: np.random.Generator, look: Look) -> Image.Image:
    """Render a shape on paper as `look` says: paper, rulings, ink, light, camera, crop, encoding."""
    cov = shape(look.height, rng)
    if look.stroke is not None:
        cov = crop_ink(set_width(cov, look.stroke))
    h, w = look.canvas
    top, left = _place((h, w), cov.shape, rng)
    ink = _paste((h, w), cov, top, left)
    # The server keeps only luminance (a linear mix of R, G and B), so most looks are rendered in
    # luminance directly: a third of the work. Colour looks stay RGB for JPEG's chroma artefacts.
    rgb = look.colour and not look.gray
    paper_colour, ink_colour, rule_colour, red = (
        np.asarray(c if rgb else (luminance(c),), np.float32)
        for c in (look.paper, look.ink, look.rule_colour, (220.0, 90.0, 90.0))
    )
    tone = np.zeros((h, w), np.float32)
    if look.blotches:
        tone += look.blotches * smooth_field(h, w, rng, int(rng.integers(2, 7)))
    if look.grain:
        grain = rng.standard_normal((h // 2 + 1, w // 2 + 1), dtype=np.float32)
        tone += look.grain * np.asarray(Image.fromarray(grain, "F").resize((w, h), Image.Resampling.BILINEAR))
    paper = tone[..., None] + paper_colour
    if look.rules:
        rows = _rule_profile(h, rng, look.rules, look.rule_width)[:, None]
        cols = _rule_profile(w, rng, look.rules, look.rule_width)[None, :] if look.squared else rows[:1, :1] * 0
        rule = np.maximum(rows, cols)
        paper += rule[..., None] * (rule_colour - paper)
    if look.margin_line:
        x, width = int(rng.integers(0, max(1, w // 3))), max(1, round(look.rule_width))
        paper[:, x : x + width] += 0.8 * (red - paper[:, x : x + width])
    if look.ink_grain:
        ink = ink * (1 - look.ink_grain * rng.random((h, w), dtype=np.float32))
    image = paper + ink[..., None] * (ink_colour - paper)
    light = lighting(h, w, rng, look.light) if look.light else None
    if look.shadow:
        shadow = hard_shadow(h, w, rng, ink_box(ink) or (0, h, 0, w))
        light = shadow if light is None else light * shadow
    if light is not None:
        image *= light[..., None]
    if look.noise and not look.blur:
        image += (look.noise * rng.standard_normal((h, w), dtype=np.float32))[..., None]
    pixels = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    pil = Image.fromarray(pixels, "RGB") if rgb else Image.fromarray(pixels[..., 0], "L")
    if look.blur:
        pil = pil.filter(ImageFilter.GaussianBlur(look.blur))
        if look.noise:  # noise after the blur, as a sensor adds it after the lens
            arr = np.asarray(pil, np.float32)
            noise = look.noise * rng.standard_normal((h, w), dtype=np.float32)
            arr = arr + (noise[..., None] if arr.ndim == 3 else noise)
            pil = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), pil.mode)
    if look.crop is not None:
        pil = _tight_crop(pil, ink, look.crop, look.height)
    if look.resize_to is not None and max(pil.size) > look.resize_to:
        scale = look.resize_to / max(pil.size)
        pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.Resampling.BOX)
    return encode(pil, look.jpeg)


def _tight_crop(
    pil: Image.Image, ink: Coverage, margins: tuple[float, float, float, float], height: int
) -> Image.Image:
    """Cut the picture to the ink's box, grown (margin > 0) or cut into (< 0) by a share of its height."""
    box = ink_box(ink)
    if box is None:
        return pil
    top, bottom, left, right = box
    m = [round(f * height) for f in margins]
    area = (max(0, left - m[2]), max(0, top - m[0]), min(pil.width, right + m[3]), min(pil.height, bottom + m[1]))
    if area[2] - area[0] < 4 or area[3] - area[1] < 4:
        return pil
    return pil.crop(area)


# --- colours -------------------------------------------------------------------------------------


def _gray(level: float) -> Rgb:
    return (level, level, level)


def luminance(rgb: Rgb) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _hsv(h: float, s: float, v: float) -> Rgb:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (255 * r, 255 * g, 255 * b)


def paper_white(rng: np.random.Generator) -> Rgb:
    """Photographed white paper: never quite white, often warm or cool."""
    base = _uniform(rng, 175, 252)
    tint = rng.normal(0, 4, 3)
    return (base + tint[0] + 3, base + tint[1], base + tint[2] - 3)


def ink_dark(rng: np.random.Generator) -> Rgb:
    """Black, blue or (rarely) red or green ballpoint/marker ink."""
    kind = rng.random()
    if kind < 0.5:
        v = _uniform(rng, 5, 60)
        return (v, v, v + _uniform(rng, 0, 10))
    if kind < 0.85:
        return _hsv(_uniform(rng, 0.58, 0.7), _uniform(rng, 0.5, 0.9), _uniform(rng, 0.2, 0.55))
    return _hsv(rng.choice([0.0, 0.33, 0.8]), _uniform(rng, 0.6, 0.9), _uniform(rng, 0.3, 0.5))


def contrasting(rng: np.random.Generator, paper: Rgb, minimum: float) -> Rgb:
    """A random saturated ink at least `minimum` levels darker (in luminance) than the paper."""
    for _ in range(20):
        ink = _hsv(_uniform(rng, 0, 1), _uniform(rng, 0.4, 1), _uniform(rng, 0.1, 0.75))
        if luminance(paper) - luminance(ink) >= minimum:
            return ink
    return (20.0, 20.0, 20.0)


# --- page geometry ---------------------------------------------------------------------------------


def _canvas_around(height: int, rng: np.random.Generator, fill: tuple[float, float]) -> tuple[int, int]:
    """A canvas where the ink's height is a share `fill` of the canvas height, aspect 0.7..1.4."""
    ch = height / _uniform(rng, *fill)
    cw = ch * _uniform(rng, 0.7, 1.4)
    return max(height + 2, round(ch)), max(8, round(cw))


def _shrink(height: int, canvas: tuple[int, int]) -> tuple[int, tuple[int, int]]:
    scale = min(1.0, MAX_SIDE / max(canvas))
    return max(8, round(height * scale)), (max(8, round(canvas[0] * scale)), max(8, round(canvas[1] * scale)))


def _photo_look(rng: np.random.Generator, low: int, high: int, stroke_ratio: tuple[float, float]) -> Look:
    height = int(rng.integers(low, high + 1))
    height, canvas = _shrink(height, _canvas_around(height, rng, (0.35, 0.85)))
    return Look(
        height=height,
        canvas=canvas,
        stroke=max(1.2, height * _uniform(rng, *stroke_ratio)),
        paper=paper_white(rng),
        ink=ink_dark(rng),
        blotches=_uniform(rng, 0, 8),
        grain=_uniform(rng, 0, 4),
        light=_uniform(rng, 0, 0.4),
        blur=_uniform(rng, 0, 1.2) if _chance(rng, 0.5) else 0.0,
        noise=_uniform(rng, 0, 5),
        jpeg=int(rng.integers(40, 96)) if _chance(rng, 0.8) else None,
        colour=_chance(rng, 0.25),
    )


# --- styles --------------------------------------------------------------------------------------


def marker(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """Felt marker on paper, photographed: strokes an eighth to a third of the digit's height."""
    return paint(shape, rng, _photo_look(rng, 60, 420, (0.1, 0.2)))


def pen(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """Thin ballpoint or fineliner on paper, photographed."""
    return paint(shape, rng, _photo_look(rng, 50, 420, (0.02, 0.07)))


def pencil(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """Light graphite on grainy paper: low contrast, strokes broken up by the paper's tooth."""
    look = _photo_look(rng, 60, 420, (0.035, 0.1))
    paper = _uniform(rng, 200, 250)
    look.paper = (paper + 2, paper, paper - 4)
    depth = _uniform(rng, 45, 120)
    look.ink = (paper - depth, paper - depth, paper - depth + 4)
    look.ink_grain = _uniform(rng, 0.2, 0.6)
    look.grain = _uniform(rng, 2, 7)
    look.blotches = _uniform(rng, 2, 8)
    return paint(shape, rng, look)


def lined(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """Ruled notebook paper (blue or grey lines, sometimes a margin line) with lines across the digit."""
    look = _photo_look(rng, 60, 380, (0.04, 0.2))
    look.rules = look.height * _uniform(rng, 0.45, 1.3)
    look.rule_width = _uniform(rng, 1, max(1.5, look.height / 60))
    look.rule_colour = _rule_colour(rng, look.paper)
    look.margin_line = _chance(rng, 0.25)
    return paint(shape, rng, look)


def squared(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """Squared (graph) paper: a grid of light lines, the digit spanning one to four squares."""
    look = _photo_look(rng, 60, 380, (0.04, 0.2))
    look.rules = look.height * _uniform(rng, 0.25, 0.9)
    look.squared = True
    look.rule_width = _uniform(rng, 1, max(1.5, look.height / 80))
    look.rule_colour = _rule_colour(rng, look.paper)
    return paint(shape, rng, look)


def _rule_colour(rng: np.random.Generator, paper: Rgb) -> Rgb:
    # Lighter than ink by far: rulings are printed to be seen through, a third to two thirds as dark.
    depth = _uniform(rng, 0.15, 0.5)
    target = _hsv(_uniform(rng, 0.55, 0.65), _uniform(rng, 0.3, 0.8), 0.8) if _chance(rng, 0.7) else (110.0,) * 3
    return (
        paper[0] + depth * (target[0] - paper[0]),
        paper[1] + depth * (target[1] - paper[1]),
        paper[2] + depth * (target[2] - paper[2]),
    )


def shadowed(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """A hard shadow across part of the digit, on top of uneven light."""
    look = _photo_look(rng, 60, 400, (0.05, 0.22))
    look.shadow = True
    look.light = _uniform(rng, 0.1, 0.5)
    return paint(shape, rng, look)


def coloured(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """Coloured ink on coloured paper (sticky notes, card), at least moderately contrasting."""
    look = _photo_look(rng, 50, 400, (0.04, 0.25))
    look.paper = _hsv(_uniform(rng, 0, 1), _uniform(rng, 0.1, 0.6), _uniform(rng, 0.75, 1.0))
    look.ink = contrasting(rng, look.paper, _uniform(rng, 50, 140))
    look.colour = True
    return paint(shape, rng, look)


def inverted(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """Light on dark: chalk on a board, a white pen on black card, a dark-mode screenshot."""
    look = _photo_look(rng, 40, 400, (0.05, 0.25))
    dark = _uniform(rng, 0, 80)
    look.paper = (dark, dark + _uniform(rng, 0, 25), dark + _uniform(rng, 0, 10))
    light = _uniform(rng, max(dark + 90, 170), 255)
    look.ink = (light, light, light - _uniform(rng, 0, 20))
    look.ink_grain = _uniform(rng, 0, 0.4) if _chance(rng, 0.4) else 0.0
    return paint(shape, rng, look)


def tight(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """Cropped to the ink: strokes touching the edges or slightly cut, any pen width, small or large."""
    look = _photo_look(rng, 28, 400, (0.04, 0.2))
    look.crop = tuple(_uniform(rng, -0.06, 0.04) for _ in range(4))  # type: ignore[assignment]
    look.light *= 0.5
    if _chance(rng, 0.3):
        look.gray = True
        look.paper, look.ink = (255.0, 255.0, 255.0), (0.0, 0.0, 0.0)
    if _chance(rng, 0.3):
        look.resize_to = int(rng.integers(28, 100))
    return paint(shape, rng, look)


def margins(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """A small digit on a large page: the ink covers a twelfth to a quarter of the picture's height."""
    look = _photo_look(rng, 24, 120, (0.04, 0.22))
    side = look.height / _uniform(rng, 0.08, 0.25)
    look.height, look.canvas = _shrink(look.height, (round(side), round(side * _uniform(rng, 0.7, 1.4))))
    return paint(shape, rng, look)


def blurry(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """Out of focus, noisy and heavily compressed."""
    look = _photo_look(rng, 40, 300, (0.06, 0.22))
    look.blur = look.height * _uniform(rng, 0.015, 0.05)
    look.noise = _uniform(rng, 3, 14)
    look.jpeg = int(rng.integers(10, 55))
    return paint(shape, rng, look)


def scan(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """A flatbed scan: white page, black ink, grayscale, sometimes thresholded to two levels."""
    height = int(rng.integers(30, 300))
    height, canvas = _shrink(height, _canvas_around(height, rng, (0.4, 0.9)))
    look = Look(
        height=height,
        canvas=canvas,
        stroke=max(1.2, height * _uniform(rng, 0.05, 0.2)),
        paper=_gray(_uniform(rng, 235, 255)),
        ink=_gray(_uniform(rng, 0, 50)),
        noise=_uniform(rng, 0, 3),
        gray=True,
        jpeg=int(rng.integers(60, 96)) if _chance(rng, 0.5) else None,
    )
    image = paint(shape, rng, look)
    if _chance(rng, 0.3):
        image = image.convert("L").point(lambda v: 255 if v > 128 else 0)
    return image


def canvas(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """A drawing canvas (finger, mouse, stylus): a 20-40 px brush on about 280x280, saved as PNG.

    Dark on white, white on black, or strokes only in the alpha channel over a transparent
    background; sometimes the client shrinks the canvas to 28..64 px before sending it.
    """
    side = int(rng.choice([200, 256, 280, 280, 280, 300, 400, 512]))
    brush = _uniform(rng, 20, 40) * side / 280
    # A 40 px brush on a small digit fills its loops: nobody could read it, so digits are drawn larger.
    height = round(side * _uniform(rng, max(0.45, 5 * brush / side), 0.92))
    cov = crop_ink(set_width(shape(height, rng), brush))
    if _chance(rng, 0.4):  # no anti-aliasing
        cov = harden(cov, 0.5, 0.01)
    top, left = _place((side, side), cov.shape, rng)
    ink = _paste((side, side), cov, top, left)
    kind = rng.random()
    if kind < 0.4:
        values = np.asarray(255 - ink * 255 + 0.5, np.uint8)
        image = Image.fromarray(values, "L")
    elif kind < 0.7:
        image = Image.fromarray(np.asarray(ink * 255 + 0.5, np.uint8), "L")
    else:
        colour = (255, 255, 255) if _chance(rng, 0.5) else (0, 0, 0) if _chance(rng, 0.6) else ink_dark(rng)
        rgba = np.zeros((side, side, 4), np.uint8)
        rgba[..., :3] = np.asarray(colour, np.float32).astype(np.uint8)
        rgba[..., 3] = np.asarray(ink * 255 + 0.5, np.uint8)
        image = Image.fromarray(rgba, "RGBA")
    if _chance(rng, 0.15):
        small = int(rng.integers(28, 65))
        image = image.resize((small, small), Image.Resampling.LANCZOS)
    return encode(image, None)


def lowres(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """A low-resolution scan (8..32 px) enlarged blocky (nearest) or blurry (bilinear, bicubic)."""
    small = int(rng.integers(8, 33))
    # The digit at least 7 px tall: smaller, nobody (person or model) can tell a 4 from a 9.
    fill = 1.0 if _chance(rng, 0.35) else _uniform(rng, min(0.95, max(0.6, 7 / small)), 0.95)
    detail = 8  # drawn this many times larger, then averaged down like a scanner's sensor
    height = max(8, round(small * fill * detail))
    cov = crop_ink(set_width(shape(height, rng), height * _uniform(rng, 0.09, 0.2)))
    side = small * detail
    big = (max(side, cov.shape[0]), max(side, cov.shape[1]))
    top, left = _place(big, cov.shape, rng)
    ink = _paste(big, cov, top, left)
    if fill == 1.0:
        box = ink_box(ink) or (0, big[0], 0, big[1])
        ink = ink[box[0] : box[1], box[2] : box[3]]
    dark_on_light = _chance(rng, 0.75)
    paper, level = (_uniform(rng, 200, 255), _uniform(rng, 0, 70)) if dark_on_light else (_uniform(rng, 0, 50), 255.0)
    values = paper + ink * (level - paper)
    h, w = ink.shape
    size = (max(2, round(w / detail)), max(2, round(h / detail)))
    low = Image.fromarray(np.asarray(np.clip(values, 0, 255), np.uint8), "L").resize(size, Image.Resampling.BOX)
    if _chance(rng, 0.3):
        levels = int(rng.integers(2, 9))
        step = 255 / (levels - 1)
        low = low.point(lambda v: round(round(v / step) * step))
    target = int(rng.integers(28, 420))
    scale = target / max(size)
    method = [Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC][int(rng.integers(0, 3))]
    image = low.resize((max(1, round(size[0] * scale)), max(1, round(size[1] * scale))), method)
    return encode(image, int(rng.integers(50, 96)) if _chance(rng, 0.3) else None)


def mnist_like(shape: Shape, rng: np.random.Generator) -> Image.Image:
    """MNIST's own layout: light strokes on black, fitted in 20x20, mass centred in 28x28."""
    cov = crop_ink(set_width(shape(int(rng.integers(16, 21)), rng), _uniform(rng, 1.8, 3.2)))
    cov = (
        fit_height(cov, cov.shape[0])
        if max(cov.shape) <= 20
        else fit_height(cov, round(20 * cov.shape[0] / max(cov.shape)))
    )
    mass = cov.sum()
    cy = float((cov.sum(axis=1) * np.arange(cov.shape[0])).sum() / max(mass, 1e-6))
    cx = float((cov.sum(axis=0) * np.arange(cov.shape[1])).sum() / max(mass, 1e-6))
    top = round(14 - cy + _uniform(rng, -1, 1))
    left = round(14 - cx + _uniform(rng, -1, 1))
    ink = _paste((28, 28), cov, top, left)
    peak = _uniform(rng, 200, 255)
    values = ink * peak + np.abs(rng.normal(0, _uniform(rng, 0, 6), (28, 28)))
    return Image.fromarray(np.asarray(np.clip(values + 0.5, 0, 255), np.uint8), "L")


PAPER_STYLES: dict[str, Style] = {
    "marker": marker,
    "pen": pen,
    "pencil": pencil,
    "lined": lined,
    "squared": squared,
    "shadow": shadowed,
    "colour": coloured,
    "inverted": inverted,
    "tight": tight,
    "margin": margins,
    "blurry": blurry,
    "scan": scan,
    "canvas": canvas,
    "lowres": lowres,
    "mnist_like": mnist_like,
}
