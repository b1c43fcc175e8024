"""Framing time of what people send, against issue 9's budgets: a 12-megapixel photo under 30 ms, an
MNIST-style 28x28 image under 0.1 ms.

Takes a few images of the evaluation set's dev split (its generators share nothing with the framing
code), enlarges the photo-like ones to 4000x3000 and saves them as JPEG as a phone would, then times
what /predict does with such an upload: decoding it (`decode_image`, which lets libjpeg decode at a
reduced scale) and framing the decoded image (`prepare_pixels(image, "auto")`, the budgeted part).
Prints the median of `--repeat` calls of each and the framing's ratio to its budget. The machine is
shared: compare figures from one run.
Run: python -m bench.framing_speed [--repeat 15]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from app.core.config import PROJECT_ROOT
from app.core.imaging import decode_image
from training import evalset
from training.mnist import load_split
from training.preprocessing import prepare_pixels

PHOTO_SIZE = (4000, 3000)
PHOTO_BUDGET_MS, MNIST_BUDGET_MS = 30.0, 0.1
# Dev samples of kinds a phone photographs: a digit on paper, a hard shadow across one, lined paper.
PHOTO_KINDS = {"photos": 3, "shadow": 3, "lined": 2}


def _median_ms(repeat: int, call: Callable[..., object], *args: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call(*args)
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def _phone_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").resize(PHOTO_SIZE, Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="calls per image; the median is printed")
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT.parent / "shared" / "data" / "mnist")
    args = parser.parse_args()
    print(f"{'image':28s} {'decode ms':>9s} {'frame ms':>9s} {'frame x budget':>15s}")  # noqa: T201
    for subset, count in PHOTO_KINDS.items():
        for sample in evalset.generate(subset, count, split="dev", mnist_dir=args.data_dir):
            data = _phone_jpeg(sample.image())
            pixels = PHOTO_SIZE[0] * PHOTO_SIZE[1]
            decode_ms = _median_ms(args.repeat, decode_image, data, pixels)
            frame_ms = _median_ms(args.repeat, prepare_pixels, decode_image(data, pixels), "auto")
            name = f"{subset} {sample.index} {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG"
            print(f"{name:28s} {decode_ms:9.2f} {frame_ms:9.2f} {frame_ms / PHOTO_BUDGET_MS:14.2f}x")  # noqa: T201
    for index, digit in enumerate(load_split(args.data_dir, "test").head(5).images):
        frame_ms = _median_ms(20 * args.repeat, prepare_pixels, Image.fromarray(digit), "auto")
        name = f"mnist test {index} 28x28"
        print(f"{name:28s} {'':9s} {frame_ms:9.4f} {frame_ms / MNIST_BUDGET_MS:14.2f}x")  # noqa: T201


if __name__ == "__main__":
    main()
