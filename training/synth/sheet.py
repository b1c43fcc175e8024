"""A contact sheet of a bank: per style, a few inputs beside the frames the model trains on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from training.preprocessing import prepare_pixels
from training.synth.bank import _DIGIT, _NONDIGIT, render

THUMB = 56
LABEL_WIDTH = 130


def _thumb(image: Image.Image) -> Image.Image:
    """The upload as a person sees it (transparency over a checker-free mid grey), squeezed square."""
    if image.mode in ("RGBA", "LA", "PA"):
        grey = Image.new("RGBA", image.size, (128, 128, 128, 255))
        image = Image.alpha_composite(grey, image.convert("RGBA"))
    return image.convert("RGB").resize((THUMB, THUMB), Image.Resampling.BILINEAR)


def _frame(pixels: NDArray[np.uint8], blank: bool) -> Image.Image:
    frame = Image.fromarray(pixels).convert("RGB").resize((THUMB, THUMB), Image.Resampling.NEAREST)
    if blank:  # a red cross: dropped from the bank
        pen = ImageDraw.Draw(frame)
        pen.line([(0, 0), (THUMB, THUMB)], fill=(255, 0, 0), width=2)
        pen.line([(0, THUMB), (THUMB, 0)], fill=(255, 0, 0), width=2)
    return frame


def write_sheet(
    path: Path, images: NDArray[np.uint8], nondigit_count: int, seed: int, per_style: int = 8, scan: int = 1500
) -> None:
    """The first `per_style` images of each style of a bank, rendered exactly as the bank renders them.

    Looks at most `scan` digits and `scan` non-digits; blank frames (dropped from the bank) are crossed.
    """
    found: dict[str, list[tuple[Image.Image, NDArray[np.uint8], bool]]] = {}
    for kind, count in ((_DIGIT, len(images)), (_NONDIGIT, nondigit_count)):
        for index in range(min(count, scan)):
            style, image = render(seed, kind, index, images[index] if kind == _DIGIT else None)
            chosen = found.setdefault(style, [])
            if len(chosen) < per_style:
                prepared = prepare_pixels(image, "auto")
                chosen.append((image, prepared.pixels, prepared.blank))
    rows = sorted(found)
    sheet = Image.new("RGB", (LABEL_WIDTH + per_style * (2 * THUMB + 6), len(rows) * (THUMB + 4)), (255, 255, 255))
    pen = ImageDraw.Draw(sheet)
    for row, style in enumerate(rows):
        y = row * (THUMB + 4)
        pen.text((4, y + THUMB // 2 - 6), style, fill=(0, 0, 0))
        for column, (image, pixels, blank) in enumerate(found[style]):
            x = LABEL_WIDTH + column * (2 * THUMB + 6)
            sheet.paste(_thumb(image), (x, y))
            sheet.paste(_frame(pixels, blank), (x + THUMB, y))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
