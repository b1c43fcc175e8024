"""Things that are not a digit, for the model's 11th class: glyphs, letters, shapes, marks, scribbles,
photos, noise.

Glyphs, letters and shapes are drawn as ink coverage and laid on the same media as the digits
(training.synth.media), so the model cannot tell the class from the medium. Photo-like pictures
and noise are whole images. Nothing here should be read as a digit by a person: no single circle
or ellipse outline (a 0), no single straight stroke (a 1), no letters shaped like digits
(O, I, l, S, Z, B, g, q, ...). The TrueType glyphs (GLYPHS) hold none of the characters the
evaluation set draws with the machine's TrueType fonts; Latin letters, which people do send, are
written as pen strokes in Hershey's stroke fonts (training.synth.letters), other glyph designs from
another renderer. Both lists are checked in tests/unit/test_synth.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from training.synth import media
from training.synth.letters import LETTERS, SYMBOLS, letter_shape
from training.synth.strokes import Coverage, crop_ink, fit_height, from_image, jitter

# Greek and Cyrillic capitals and small letters, a few Latin ones, and symbols; every one far from
# any digit's shape (no Φ/φ/Ф/ф: a circle with a stroke through it is how many people write 0; no Ъ
# or Þ, a 6 or a 9 to a hurried eye).
GLYPHS = "ΔΛΞΠΣΨΩДЖИЙЛЦШЩЫЮЯαλμπψωжилшщюядцLŁæÆ¤†‡♣♦♠☼☂✈✉⌘※⁂✦✧❄❖✂✎☎☁☀♀♂⚑⚓☘✿❀■▲△▼▽◆✱"
FONT_DIRS = (Path("/usr/share/fonts"),)
_MISSING = "\U000f0000"  # a private-use code point no font here draws: its mask is the "missing" box
_DRAW = 160  # shapes are drawn on a canvas this size, then scaled

NONDIGIT_STYLES: dict[str, float] = {
    "glyph": 0.13,
    # Latin letters and ASCII symbols as a pen writes them (training.synth.letters).
    "letter": 0.18,
    "shape": 0.17,
    # The marks people doodle instead of a digit: a smiley face, a tick, a cross, a wave, a chevron.
    "mark": 0.12,
    "scribble": 0.14,
    "photo": 0.12,
    # Bottles, cans and jars: framed, a filled bar with square ends, which the model must not take
    # for a thick 1; a rare sight among the photos, so a style of their own.
    "thing": 0.06,
    # Most textures and noise are answered blank by the framing (and dropped from a bank): cheap, rare.
    "texture": 0.04,
    "noise": 0.04,
}


@functools.cache
def glyph_fonts() -> tuple[tuple[Path, str], ...]:
    """DejaVu fonts found on this machine, each with the characters of GLYPHS it really draws."""
    found = []
    for folder in FONT_DIRS:
        for path in sorted(folder.rglob("DejaVu*.ttf")) if folder.is_dir() else []:
            if "Math" in path.name:
                continue
            font = ImageFont.truetype(str(path), 48)
            missing = font.getmask(_MISSING)
            signature = (missing.size, bytes(missing))
            drawn = "".join(
                ch
                for ch in GLYPHS
                if font.getmask(ch).getbbox() is not None
                and (font.getmask(ch).size, bytes(font.getmask(ch))) != signature
            )
            if drawn:
                found.append((path, drawn))
    return tuple(found)


@functools.cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def glyph_shape(rng: np.random.Generator) -> media.Shape | None:
    """A random glyph in a random DejaVu face; None when no font is installed."""
    fonts = glyph_fonts()
    if not fonts:
        return None
    path, chars = fonts[int(rng.integers(len(fonts)))]
    ch = chars[int(rng.integers(len(chars)))]

    def draw(height: int, rng: np.random.Generator) -> Coverage:
        font = _font(path, 128)
        left, top, right, bottom = (int(v) for v in font.getbbox(ch))
        image = Image.new("L", (right - left + 8, bottom - top + 8), 0)
        ImageDraw.Draw(image).text((4 - left, 4 - top), ch, font=font, fill=255)
        return fit_height(jitter(crop_ink(from_image(image)), rng), height)

    return draw


# --- shapes drawn with lines ---------------------------------------------------------------------

Point = tuple[float, float]


def _polygon(rng: np.random.Generator, sides: int, irregular: float) -> list[Point]:
    start = float(rng.uniform(0, 2 * math.pi))
    points = []
    for k in range(sides):
        angle = start + 2 * math.pi * k / sides + float(rng.uniform(-irregular, irregular))
        radius = 0.45 * _DRAW * float(rng.uniform(1 - irregular, 1))
        points.append((_DRAW / 2 + radius * math.cos(angle), _DRAW / 2 + radius * math.sin(angle)))
    return points


def _star(rng: np.random.Generator) -> list[Point]:
    tips = int(rng.integers(5, 9))
    inner = float(rng.uniform(0.3, 0.55))
    start = float(rng.uniform(0, 2 * math.pi))
    points = []
    for k in range(2 * tips):
        radius = 0.45 * _DRAW * (1 if k % 2 == 0 else inner)
        angle = start + math.pi * k / tips
        points.append((_DRAW / 2 + radius * math.cos(angle), _DRAW / 2 + radius * math.sin(angle)))
    return points


def _catmull_rom(points: list[Point], steps: int = 12) -> list[Point]:
    """A smooth curve through the points (a hand's path between them)."""
    out: list[Point] = []
    padded = [points[0], *points, points[-1]]
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        for s in range(steps):
            t = s / steps
            out.append(
                tuple(  # type: ignore[arg-type]
                    0.5
                    * (
                        2 * p1[j]
                        + (-p0[j] + p2[j]) * t
                        + (2 * p0[j] - 5 * p1[j] + 4 * p2[j] - p3[j]) * t * t
                        + (-p0[j] + 3 * p1[j] - 3 * p2[j] + p3[j]) * t**3
                    )
                    for j in range(2)
                )
            )
    out.append(points[-1])
    return out


def _random_points(rng: np.random.Generator, count: int) -> list[Point]:
    xy = rng.uniform(0.05 * _DRAW, 0.95 * _DRAW, (count, 2))
    return [(float(x), float(y)) for x, y in xy]


def _draw_shape(kind: str, rng: np.random.Generator, width: int) -> Image.Image:
    image = Image.new("L", (_DRAW, _DRAW), 0)
    pen = ImageDraw.Draw(image)
    c = _DRAW / 2
    if kind == "polygon":
        sides = int(rng.integers(3, 6))
        points = _polygon(rng, sides, float(rng.uniform(0, 0.35)))
        pen.line([*points, points[0], points[1]], fill=255, width=width, joint="curve")
        if sides > 3:  # framed small, a closed four- or five-sided outline is a 0: a diagonal or two inside
            pen.line([points[0], points[2]], fill=255, width=width)
            if rng.random() < 0.5:
                pen.line([points[1], points[3]], fill=255, width=width)
    elif kind == "filled":
        points = _star(rng) if rng.random() < 0.5 else _polygon(rng, int(rng.integers(3, 9)), 0.4)
        pen.polygon(points, fill=255)
    elif kind == "star":
        points = _star(rng)
        pen.line([*points, points[0], points[1]], fill=255, width=width, joint="curve")
    elif kind == "arrow":
        angle = float(rng.uniform(0, 2 * math.pi))
        dx, dy = math.cos(angle) * 0.45 * _DRAW, math.sin(angle) * 0.45 * _DRAW
        tail, tip = (c - dx, c - dy), (c + dx, c + dy)
        pen.line([tail, tip], fill=255, width=width)
        for end, sign in ((tip, 1), (tail, -1)) if rng.random() < 0.4 else ((tip, 1),):
            for turn in (2.5, -2.5):
                a = angle + turn if sign > 0 else angle + math.pi + turn
                pen.line([end, (end[0] + 0.3 * _DRAW * math.cos(a), end[1] + 0.3 * _DRAW * math.sin(a))], 255, width)
    elif kind == "lattice":
        rows, cols = int(rng.integers(2, 5)), int(rng.integers(3, 5))
        for k in range(rows):
            y = _DRAW * (k + 1) / (rows + 1) + float(rng.uniform(-5, 5))
            pen.line([(5, y), (_DRAW - 5, y + float(rng.uniform(-15, 15)))], 255, width)
        for k in range(cols):
            x = _DRAW * (k + 1) / (cols + 1) + float(rng.uniform(-5, 5))
            pen.line([(x, 5), (x + float(rng.uniform(-15, 15)), _DRAW - 5)], 255, width)
    elif kind == "hatching":
        lines = int(rng.integers(4, 11))
        angles = [float(rng.uniform(0, math.pi))]
        if rng.random() < 0.4:
            angles.append(angles[0] + float(rng.uniform(0.5, math.pi - 0.5)))
        for angle in angles:
            ux, uy = math.cos(angle), math.sin(angle)
            for k in range(lines):
                offset = (k - (lines - 1) / 2) * 0.8 * _DRAW / lines
                mx, my = c - uy * offset, c + ux * offset
                pen.line(
                    [(mx - 0.4 * _DRAW * ux, my - 0.4 * _DRAW * uy), (mx + 0.4 * _DRAW * ux, my + 0.4 * _DRAW * uy)],
                    255,
                    width,
                )
    elif kind == "spiral":
        turns = float(rng.uniform(2.5, 3.5))
        direction = 1 if rng.random() < 0.5 else -1
        steps = int(60 * turns)
        points = [
            (
                c + 0.45 * _DRAW * (s / steps) * math.cos(direction * 2 * math.pi * turns * s / steps),
                c + 0.45 * _DRAW * (s / steps) * math.sin(direction * 2 * math.pi * turns * s / steps),
            )
            for s in range(steps + 1)
        ]
        pen.line(points, 255, width, joint="curve")
    elif kind == "zigzag":
        turns = int(rng.integers(5, 11))
        amplitude = float(rng.uniform(0.15, 0.45)) * _DRAW
        points = [
            (0.05 * _DRAW + 0.9 * _DRAW * k / turns, c + (amplitude if k % 2 else -amplitude)) for k in range(turns + 1)
        ]
        pen.line(points, 255, width, joint="curve")
    elif kind == "concentric":
        sides = int(rng.integers(3, 5))
        base = _polygon(rng, sides, 0.0)
        for scale in (1.0, 0.6, 0.25)[: int(rng.integers(2, 4))]:
            ring = [(c + scale * (x - c), c + scale * (y - c)) for x, y in base]
            pen.line([*ring, ring[0], ring[1]], 255, width, joint="curve")
    elif kind == "scribble":
        points = _catmull_rom(_random_points(rng, int(rng.integers(8, 20))))
        pen.line(points, 255, width, joint="curve")
    else:  # "strokes": several overlapping strokes, straight or curved
        for _ in range(int(rng.integers(3, 8))):
            ends = _random_points(rng, int(rng.integers(2, 4)))
            pen.line(_catmull_rom(ends) if len(ends) > 2 else ends, 255, width, joint="curve")
    return image


SHAPE_KINDS = ("polygon", "filled", "star", "arrow", "lattice", "hatching", "spiral", "zigzag", "concentric")
MARK_KINDS = ("face", "tick", "cross", "wave", "chevron")


def _wobbly(rng: np.random.Generator, points: list[Point]) -> list[Point]:
    """A hand-drawn path through POINTS: each point moved a little, the path smoothed."""
    moved = [(x + float(rng.normal(0, 0.02 * _DRAW)), y + float(rng.normal(0, 0.02 * _DRAW))) for x, y in points]
    return _catmull_rom(moved, steps=6)


def _draw_mark(kind: str, rng: np.random.Generator, width: int) -> Image.Image:
    """One mark on a _DRAW-sized canvas (ink 255 on 0)."""
    image = Image.new("L", (_DRAW, _DRAW), 0)
    pen = ImageDraw.Draw(image)
    c, r = _DRAW / 2, 0.45 * _DRAW
    if kind == "face":
        # Never the ring alone (a 0): eyes and a mouth always inside it.
        ring = [(c + r * math.cos(a), c + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 25)]
        pen.line(_wobbly(rng, ring), 255, width, joint="curve")
        for side in (-1, 1):
            eye = (c + side * 0.35 * r, c - 0.3 * r)
            dot = float(rng.uniform(0.1, 0.18)) * r  # large enough to survive framing at 28x28
            pen.ellipse((eye[0] - dot, eye[1] - dot, eye[0] + dot, eye[1] + dot), fill=255)
        bend = float(rng.uniform(-0.3, 0.5)) * r  # a smile, a straight mouth or a frown
        mouth = [(c - 0.6 * r, c + 0.3 * r), (c, c + 0.3 * r + bend), (c + 0.6 * r, c + 0.3 * r)]
        pen.line(_wobbly(rng, mouth), 255, width, joint="curve")
    elif kind == "tick":
        knee = (c - 0.25 * r, c + 0.7 * r)
        pen.line(_wobbly(rng, [(c - 0.8 * r, c + 0.1 * r), knee, (c + 0.9 * r, c - 0.9 * r)]), 255, width)
    elif kind == "cross":
        turn = math.pi / 4 if rng.random() < 0.5 else 0.0  # an x or a +
        for angle in (turn, turn + math.pi / 2):
            dx, dy = r * math.cos(angle), r * math.sin(angle)
            pen.line(_wobbly(rng, [(c - dx, c - dy), (c, c), (c + dx, c + dy)]), 255, width)
    elif kind == "wave":
        waves = 1 if rng.random() < 0.6 else 2  # ~ or an approximately-equal sign
        for k in range(waves):
            y0 = c + (k - (waves - 1) / 2) * 0.5 * r
            # Never flat enough to frame as one straight bar (a 1).
            path = [(c - r + 2 * r * t, y0 + 0.4 * r * math.sin(2 * math.pi * t)) for t in np.linspace(0, 1, 9)]
            pen.line(_wobbly(rng, path), 255, width, joint="curve")
    else:  # "chevron": < > ^ or v, its arms 50-100 degrees apart
        spread = float(rng.uniform(0.45, 0.9))
        facing = float(rng.choice([0.0, math.pi / 2, math.pi, 1.5 * math.pi]))
        tip = (c - 0.5 * r * math.cos(facing), c - 0.5 * r * math.sin(facing))
        arms = [
            (tip[0] + 1.2 * r * math.cos(facing + side * spread), tip[1] + 1.2 * r * math.sin(facing + side * spread))
            for side in (-1, 1)
        ]
        pen.line(_wobbly(rng, [arms[0], tip, arms[1]]), 255, width, joint="curve")
    return image


def drawn_mark(kind: str) -> media.Shape:
    def draw(height: int, rng: np.random.Generator) -> Coverage:
        width = int(rng.integers(4, 12))
        cov = crop_ink(from_image(_draw_mark(kind, rng, width)))
        return fit_height(jitter(cov, rng, rotate=15), height)

    return draw


SCRIBBLE_KINDS = ("scribble", "strokes")


def drawn_shape(kind: str) -> media.Shape:
    def draw(height: int, rng: np.random.Generator) -> Coverage:
        # Spirals and lattices keep thin lines: thick ones merge into a disk or a square when framed.
        width = int(rng.integers(4, 9)) if kind in ("spiral", "lattice", "hatching") else int(rng.integers(4, 16))
        cov = crop_ink(from_image(_draw_shape(kind, rng, width)))
        return fit_height(jitter(cov, rng, rotate=20), height)

    return draw


# --- whole pictures ------------------------------------------------------------------------------


def _size(rng: np.random.Generator) -> tuple[int, int]:
    h = int(rng.integers(28, media.MAX_SIDE + 1))
    w = int(np.clip(h * rng.uniform(0.7, 1.4), 28, media.MAX_SIDE))
    return h, w


def _to_image(values: NDArray[np.float32]) -> Image.Image:
    pixels = np.clip(values + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB" if pixels.ndim == 3 else "L")


def _camera(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Noise, focus and compression of a phone photo."""
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 3))))
    arr = np.asarray(image, np.float32)
    arr = arr + float(rng.uniform(0, 6)) * rng.standard_normal(arr.shape, dtype=np.float32)
    return media.encode(_to_image(arr), int(rng.integers(30, 96)) if rng.random() < 0.8 else None)


def photo(rng: np.random.Generator, upright: bool = False) -> Image.Image:
    """Photo-like pictures of things: shaded objects on a table, smooth colour regions, gradients.

    UPRIGHT: always a table before a wall, with a thing standing on it first (the "thing" style).
    """
    h, w = _size(rng)
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    kind = 0.0 if upright else rng.random()
    base = np.asarray(rng.uniform(30, 230, 3), np.float32)
    tilt = rng.normal(0, 40, 2).astype(np.float32)
    scene = base + (tilt[0] * xx + tilt[1] * yy)[..., None]
    if kind < 0.5:
        # Objects: filled, shaded ellipses and boxes (a cup, a ball, a phone), lit from one side, and
        # the things that stand on a table (a bottle, a can, a jar), often before a wall.
        if upright or rng.random() < 0.5:
            table = np.asarray(rng.uniform(30, 230, 3), np.float32)
            scene = np.where((yy > rng.uniform(-0.4, 0.6))[..., None], table + (tilt[1] * yy)[..., None], scene)
        for n in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(-0.6, 0.6, 2)
            ry, rx = rng.uniform(0.15, 0.7, 2)
            light = rng.normal(0, 1, 2)
            light = light / max(float(np.hypot(*light)), 1e-6)
            u, v = (xx - cx) / rx, (yy - cy) / ry
            form = 1.0 if upright and n == 0 else rng.random()
            if form < 0.35:
                inside = u * u + v * v <= 1
            elif form < 0.6:
                inside = (abs(u) <= 1) & (abs(v) <= 1)
            else:
                inside = _standing(xx - cx, yy - cy, rng)
            shade = 0.6 + 0.4 * np.clip(light[0] * u + light[1] * v, -1, 1)
            colour = np.asarray(rng.uniform(20, 240, 3), np.float32)
            scene = np.where(inside[..., None], colour * shade[..., None], scene)
    elif kind < 0.8:
        # Smooth colour regions: out-of-focus backgrounds, leaves, fabric.
        for _ in range(3):
            field = media.smooth_field(h, w, rng, int(rng.integers(2, 8)))
            mask = 1 / (1 + np.exp(-float(rng.uniform(1, 8)) * field))
            scene = scene + mask[..., None] * (np.asarray(rng.uniform(0, 255, 3), np.float32) - scene)
    else:
        # A gradient or radial glow, as a sky, a lamp or a blank wall.
        cy, cx = rng.uniform(-1, 1, 2)
        glow = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / float(rng.uniform(0.1, 1.5)))
        scene = scene + glow[..., None] * rng.uniform(-120, 120, 3).astype(np.float32)
    return _camera(_to_image(scene.astype(np.float32)), rng)


def _standing(x: NDArray[np.float32], y: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.bool_]:
    """A thing standing upright about (0, 0), in the scene's [-1, 1] units: a body two to five times as
    tall as it is wide (a bottle, a can, a jar, a vase), most with a narrower neck or cap on top."""
    half_width = float(rng.uniform(0.07, 0.3))
    height = half_width * float(rng.uniform(4, 10))
    top, bottom = -0.55 * height, 0.45 * height
    body = (abs(x) <= half_width) & (y >= top) & (y <= bottom)
    if rng.random() < 0.3:  # rounded shoulders
        body |= (x / half_width) ** 2 + ((y - top) / half_width) ** 2 <= 1
    if rng.random() < 0.7:
        neck = half_width * float(rng.uniform(0.25, 0.6))
        body |= (abs(x) <= neck) & (y >= top - height * float(rng.uniform(0.1, 0.5))) & (y <= top)
    return np.asarray(body)


def texture(rng: np.random.Generator) -> Image.Image:
    """Regular patterns: stripes, a checkerboard, wood-like rings, fabric weave."""
    h, w = _size(rng)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    period = float(rng.uniform(4, max(5.0, min(h, w) / 3)))
    angle = float(rng.uniform(0, math.pi))
    u = xx * math.cos(angle) + yy * math.sin(angle)
    v = -xx * math.sin(angle) + yy * math.cos(angle)
    kind = rng.random()
    if kind < 0.35:
        wave = np.sin(2 * math.pi * u / period)
    elif kind < 0.6:
        wave = np.sign(np.sin(math.pi * u / period) * np.sin(math.pi * v / period))
    elif kind < 0.8:
        cy, cx = rng.uniform(-h, 2 * h), rng.uniform(-w, 2 * w)
        wave = np.sin(2 * math.pi * np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / period)
    else:
        wave = np.sin(2 * math.pi * u / period) * np.sin(2 * math.pi * v / period)
    low, high = np.sort(rng.uniform(0, 255, 2)).astype(np.float32)
    values = low + (high - low) * (0.5 + 0.5 * wave.astype(np.float32))
    return _camera(_to_image(values), rng)


def noise(rng: np.random.Generator) -> Image.Image:
    """Random noise: fine or coarse, Gaussian, uniform or salt and pepper, gray or colour."""
    h, w = _size(rng)
    cell = int(rng.integers(1, 12))
    shape = (h // cell + 1, w // cell + 1) + ((3,) if rng.random() < 0.4 else ())
    kind = rng.random()
    if kind < 0.4:
        values = rng.normal(rng.uniform(60, 200), rng.uniform(10, 80), shape)
    elif kind < 0.7:
        values = rng.uniform(0, 255, shape)
    else:
        values = np.where(
            rng.random(shape) < rng.uniform(0.02, 0.5), 255.0 * (rng.random(shape) < 0.5), rng.uniform(60, 200)
        )
    small = _to_image(values.astype(np.float32))
    return media.encode(
        small.resize((w, h), Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BILINEAR), None
    )


def _on_medium(shape: media.Shape, rng: np.random.Generator) -> Image.Image:
    names = list(media.PAPER_STYLES)
    return media.PAPER_STYLES[names[int(rng.integers(len(names)))]](shape, rng)


def render_nondigit_as(rng: np.random.Generator, style: str) -> Image.Image:
    """Render a non-digit of a named style (see NONDIGIT_STYLES)."""
    if style == "glyph":
        shape = glyph_shape(rng)
        if shape is not None:
            return _on_medium(shape, rng)
        style = "shape"  # no fonts installed: a shape instead
    if style == "letter":
        return _on_medium(letter_shape(rng, LETTERS if rng.random() < 0.8 else SYMBOLS), rng)
    if style == "shape":
        return _on_medium(drawn_shape(SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]), rng)
    if style == "mark":
        return _on_medium(drawn_mark(MARK_KINDS[int(rng.integers(len(MARK_KINDS)))]), rng)
    if style == "scribble":
        return _on_medium(drawn_shape(SCRIBBLE_KINDS[int(rng.integers(len(SCRIBBLE_KINDS)))]), rng)
    pictures: dict[str, Callable[[np.random.Generator], Image.Image]] = {
        "photo": photo,
        "thing": functools.partial(photo, upright=True),
        "texture": texture,
        "noise": noise,
    }
    if style not in pictures:
        raise ValueError(f"unknown non-digit style {style!r}; expected one of {', '.join(NONDIGIT_STYLES)}")
    return pictures[style](rng)


def pick_style(rng: np.random.Generator) -> str:
    names = list(NONDIGIT_STYLES)
    weights = np.asarray([NONDIGIT_STYLES[n] for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def render_nondigit_styled(rng: np.random.Generator) -> tuple[str, Image.Image]:
    style = pick_style(rng)
    return style, render_nondigit_as(rng, style)


def render_nondigit(rng: np.random.Generator) -> Image.Image:
    """One random picture of something that is not a digit."""
    return render_nondigit_styled(rng)[1]
