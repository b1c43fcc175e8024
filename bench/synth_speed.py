"""Rendering vs framing time per style of the training bank (training.synth), in one process.

Renders `--count` images of each digit and non-digit style from the first MNIST training digits,
times the rendering and the server's framing (`prepare_pixels(image, "auto")`) of each, and prints
milliseconds per image, their ratio, the blank share, and the resulting images per second of one
process for the bank's style mix. Figures from one run on a shared machine: compare the ratio.
Run: python -m bench.synth_speed [--count 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from app.core.config import PROJECT_ROOT
from training.mnist import load_split
from training.preprocessing import prepare_pixels
from training.synth.digits import DIGIT_STYLES, render_digit_as
from training.synth.nondigits import NONDIGIT_STYLES, render_nondigit_as


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20, help="images per style")
    args = parser.parse_args()
    digits = load_split(PROJECT_ROOT.parent / "shared" / "data" / "mnist", "train").head(args.count)
    print(f"{'style':22s} {'render ms':>9s} {'frame ms':>9s} {'ratio':>6s} {'blank':>6s}")  # noqa: T201
    mix_render = mix_frame = 0.0
    for kind, styles in (("digit", DIGIT_STYLES), ("nondigit", NONDIGIT_STYLES)):
        for style, weight in styles.items():
            render_s = frame_s = 0.0
            blank = 0
            for index in range(args.count):
                rng = np.random.default_rng([99, index])
                started = time.perf_counter()
                if kind == "digit":
                    image = render_digit_as(digits.images[index], rng, style)
                else:
                    image = render_nondigit_as(rng, style)
                rendered = time.perf_counter()
                blank += prepare_pixels(image, "auto").blank
                render_s += rendered - started
                frame_s += time.perf_counter() - rendered
            r, f = 1000 * render_s / args.count, 1000 * frame_s / args.count
            if kind == "digit":  # the bank is mostly digits: its mix is the digits' weights
                mix_render += weight * r
                mix_frame += weight * f
            print(f"{kind + '/' + style:22s} {r:9.1f} {f:9.1f} {r / f:6.2f} {blank / args.count:6.0%}")  # noqa: T201
    per_image = (mix_render + mix_frame) / 1000
    print(  # noqa: T201
        f"digit mix: render {mix_render:.1f} ms + frame {mix_frame:.1f} ms per image "
        f"(render/frame {mix_render / mix_frame:.2f}): {1 / per_image:.0f} images/s per process"
    )


if __name__ == "__main__":
    main()
