"""Numbers of 2-5 digits written side by side, built from MNIST test digits and photographed.

Each digit is cut to its own columns and set beside the previous one with a writer's gap and a small
baseline wobble, then the strip goes through the photos renderer (training.evalset.photos), as a
card with "42" on it would be photographed. The gaps and wobble are this generator's own, chosen as
handwriting varies, not taken from the segmentation code; digits never touch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from training.evalset.photos import render_photo
from training.mnist import load_split

DIGITS_RANGE = (2, 5)
GAP_RANGE = (2, 10)  # px between neighbouring digits at MNIST scale (their ink is about 20 px tall)
WOBBLE = 2  # px up or down from the line
HEIGHT = 28 + 2 * WOBBLE
MARGIN = 4  # px of paper left and right of the number, as MNIST leaves around a digit
NUMBER_SCALE_RANGE = (3.0, 8.0)  # enlargement: a wide number fills a photo sooner than one digit


@dataclass(frozen=True)
class NumberSample:
    index: int
    number: str  # the digits, left to right
    data: bytes  # JPEG bytes, as uploaded

    def image(self) -> Image.Image:
        image = Image.open(io.BytesIO(self.data))
        image.load()
        return image


def compose(digits: list[NDArray[np.uint8]], rng: np.random.Generator) -> NDArray[np.uint8]:
    """A strip of MNIST digits side by side (light ink on black, as MNIST), HEIGHT rows."""
    columns = []
    for position, digit in enumerate(digits):
        used = np.flatnonzero(digit.max(axis=0) > 0)
        cut = digit[:, used.min() : used.max() + 1]
        shift = int(rng.integers(-WOBBLE, WOBBLE + 1))
        cut = np.pad(cut, ((WOBBLE + shift, WOBBLE - shift), (0, 0)))
        if position:
            columns.append(np.zeros((HEIGHT, int(rng.integers(GAP_RANGE[0], GAP_RANGE[1] + 1))), np.uint8))
        columns.append(cut)
    margin = np.zeros((HEIGHT, MARGIN), np.uint8)
    return np.concatenate([margin, *columns, margin], axis=1)


def generate_numbers(
    count: int, seed: int, pool: NDArray[np.int64], mnist_dir: Path, start: int = 0
) -> list[NumberSample]:
    """`count` photographed numbers whose digits come from `pool` (indices into MNIST test), from
    index START on (each number depends only on the seed and its index)."""
    test = load_split(mnist_dir, "test")
    samples = []
    for index in range(start, start + count):
        rng = np.random.default_rng([seed, 9, index])
        length = int(rng.integers(DIGITS_RANGE[0], DIGITS_RANGE[1] + 1))
        chosen = rng.choice(pool, size=length, replace=False)
        strip = compose([test.images[j] for j in chosen], rng)
        number = "".join(str(int(test.labels[j])) for j in chosen)
        samples.append(NumberSample(index, number, render_photo(strip, rng, NUMBER_SCALE_RANGE)))
    return samples
