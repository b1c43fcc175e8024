"""Other writers' digits scanned at low resolution: the UCI optical digits (8x8, 0-16) as scans."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

UCI_PATH = Path(__file__).with_name("data") / "uci-digits.csv.gz"


def load_uci(path: Path = UCI_PATH) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The 1797 UCI digits as (N, 8, 8) counts 0-16 and (N,) labels."""
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    return table[:, :64].reshape(-1, 8, 8), table[:, 64]


def render_scan(counts: NDArray[np.uint8], rng: np.random.Generator) -> bytes:
    """PNG bytes of an 8x8 digit as a low-resolution scan: dark ink on paper, 3-8x enlarged, margins."""
    side = int(rng.integers(24, 65))
    coverage = np.asarray(
        Image.fromarray(counts.astype(np.float32) / 16).resize((side, side), Image.Resampling.BICUBIC), dtype=np.float32
    )
    margin = (side * rng.uniform(0.1, 0.6, 4)).round().astype(int)
    coverage = np.pad(np.clip(coverage, 0, 1), ((margin[0], margin[1]), (margin[2], margin[3])))
    paper, ink = rng.uniform(200, 250), rng.uniform(10, 70)
    scan = paper + coverage * (ink - paper) + rng.normal(0, rng.uniform(1, 4), coverage.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(scan, 0, 255).round().astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()
