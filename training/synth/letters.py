"""Latin letters and symbols written with a pen, for the model's 11th class.

People who send a letter instead of a digit write it: one stroke of even width along the letter's
path. Hershey's stroke fonts (the Hershey-Fonts package: simplex, duplex, script and italic faces,
each glyph a list of line segments) give those paths; they are drawn here as round-capped pen
strokes of a random width, jittered like a hand, and laid on the same media as the digits. No
TrueType font is used, so the letters the evaluation set draws with the machine's outline fonts
(training.evalset.nondigits) come from another renderer and other glyph designs.

Letters a person could read as a digit (O, D, I, l, J, S, Z, B, G, Q, b, g, q, z, ...) and the
marks that frame as a lone stroke or a speck (! / | ( ) - . :) are never drawn: refusing those
would be wrong (a question mark's dot survives framing, so "?" stays). tests/unit/test_synth.py
checks both lists.
"""

from __future__ import annotations

import functools

import numpy as np
from HersheyFonts import HersheyFonts
from PIL import Image, ImageDraw

from training.synth import media
from training.synth.strokes import Coverage, crop_ink, fit_height, from_image, jitter

LETTERS = "ACEFHKLMNPRTUVWXYacefhkmnprtuvwxy"
SYMBOLS = "+=#@%&*<>~?"
# The package's Latin faces that map ASCII to Latin glyphs (its Greek, Cyrillic and symbol fonts
# put other glyphs, some digit-like, at the same codes); gothic faces are left out as nobody writes them.
STROKE_FONTS = (
    "futural",
    "futuram",
    "rowmans",
    "rowmand",
    "rowmant",
    "scripts",
    "scriptc",
    "cursive",
    "timesr",
    "timesi",
    "timesrb",
    "timesib",
)
_UNITS = 100.0  # the glyphs' height in the package's normalised units
_MARGIN = 16  # pixels around the strokes on the drawing canvas: wider than the widest pen

Point = tuple[float, float]
Segment = tuple[Point, Point]
PenPath = tuple[Point, ...]


@functools.cache
def _font(name: str) -> HersheyFonts:
    font = HersheyFonts()
    font.load_default_font(name)
    font.normalize_rendering(_UNITS)
    return font


@functools.cache
def strokes(font: str, char: str) -> tuple[PenPath, ...]:
    """The pen paths of CHAR in FONT, y downwards: consecutive segments joined into polylines.

    Cached, so returned as tuples: nobody can change what the next caller gets.
    """
    paths: list[list[Point]] = []
    segments: list[Segment] = list(_font(font).lines_for_text(char))
    for (x1, y1), (x2, y2) in segments:
        start, end = (float(x1), -float(y1)), (float(x2), -float(y2))
        if paths and paths[-1][-1] == start:
            paths[-1].append(end)
        else:
            paths.append([start, end])
    return tuple(tuple(path) for path in paths)


def _draw(paths: tuple[PenPath, ...], width: int, rng: np.random.Generator) -> Image.Image:
    xs = [x for path in paths for x, _ in path]
    ys = [y for path in paths for _, y in path]
    left, top = min(xs), min(ys)
    size = (round(max(xs) - left) + 2 * _MARGIN, round(max(ys) - top) + 2 * _MARGIN)
    image = Image.new("L", size, 0)
    pen = ImageDraw.Draw(image)
    tremor = float(rng.uniform(0, 1.2))  # a hand's wobble, in pixels of the ~100 px glyph
    radius = width / 2
    for path in paths:
        points = [
            (x - left + _MARGIN + float(rng.normal(0, tremor)), y - top + _MARGIN + float(rng.normal(0, tremor)))
            for x, y in path
        ]
        pen.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):  # round pen ends, as a ballpoint or a marker leaves them
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return image


def letter_shape(rng: np.random.Generator, chars: str) -> media.Shape:
    """One character of CHARS in a random stroke font, drawn with a random pen."""
    font = STROKE_FONTS[int(rng.integers(len(STROKE_FONTS)))]
    char = chars[int(rng.integers(len(chars)))]

    def draw(height: int, rng: np.random.Generator) -> Coverage:
        width = int(rng.integers(3, 13))
        cov = crop_ink(from_image(_draw(strokes(font, char), width, rng)))
        return fit_height(jitter(cov, rng, rotate=12), height)

    return draw
