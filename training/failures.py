"""A contact sheet of misread uploads beside the 28x28 frames the model saw, to look at failures."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from training.evalset import Sample
from training.preprocessing import PreprocessMode, prepare_pixels

CELL = 96  # px per upload thumbnail and per frame
PER_ROW = 8  # failures shown per subset


def _thumbnail(sample: Sample) -> Image.Image:
    image = sample.image()
    if image.mode in ("RGBA", "LA", "PA", "P"):
        # Transparent areas in magenta: a canvas that is transparent outside its strokes shows as such.
        backdrop = Image.new("RGBA", image.size, (255, 0, 255, 255))
        backdrop.alpha_composite(image.convert("RGBA"))
        image = backdrop
    image = image.convert("RGB")
    image.thumbnail((CELL - 4, CELL - 16))
    return image


def failure_sheet(failures: dict[str, list[tuple[Sample, str]]], mode: PreprocessMode) -> bytes:
    """PNG bytes: one row per subset, each failure as its upload and its frame ("label>read")."""
    rows = [(subset, shown[:PER_ROW]) for subset, shown in failures.items() if shown]
    sheet = Image.new("RGB", (2 * CELL * PER_ROW, CELL * max(1, len(rows))), (80, 80, 80))
    draw = ImageDraw.Draw(sheet)
    for r, (subset, shown) in enumerate(rows):
        for c, (sample, read) in enumerate(shown):
            x, y = 2 * c * CELL, r * CELL
            sheet.paste(_thumbnail(sample), (x + 2, y + 14))
            frame = Image.fromarray(prepare_pixels(sample.image(), mode).pixels).resize(
                (CELL - 16, CELL - 16), Image.Resampling.NEAREST
            )
            sheet.paste(frame.convert("RGB"), (x + CELL + 2, y + 14))
            draw.text((x + 2, y + 1), f"{subset} {sample.index} {sample.label}>{read}", fill=(255, 255, 0))
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG")
    return buffer.getvalue()
