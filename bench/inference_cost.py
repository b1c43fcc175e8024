"""What each inference-time form of a model costs per image, and whether it still gives the same answers.

For each artifact: the model as trained (float, torch), with BatchNorm folded into its convolutions
(training.optimize.fold_batchnorm), folded and channels-last, the ONNX Runtime session serving runs
(training.runtime: folded, built from the artifact without torch), and two int8 forms
from PyTorch's own (eager, torch.ao) quantization: static (training.quantize, what DIGITS_INT8
serves: x86 engine, ranges measured on MNIST validation digits, the logits' Linear in float) and
dynamic (Linear layers only). Prints the per-image latency of one forward pass at
batch 1, 8 and 32 on one thread (serving's DIGITS_TORCH_THREADS default), then each form's
agreement with float over the whole MNIST test set (the digit read, and whether it is refused as not
a digit, both as training.scoring decides them), its largest digit-logit difference,
its test accuracy (argmax of the digits) and the share it refuses.

All figures of one run come from the same process, interleaved by round, so machine noise hits every
form alike; each figure is the best round's median (noise from other processes only ever adds time).
Quote them as ratios to float.

    python -m bench.inference_cost [--model models/compact.safetensors ...] [--threads 1] [--seconds 0.3]
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from training import quantize, runtime
from training.artifacts import LoadedModel, load_artifact, numpy_forward
from training.calibrate_cli import validation_split
from training.flops import mflops_per_image
from training.mnist import load_split
from training.optimize import fold_batchnorm
from training.preprocessing import Normalization, normalize
from training.runtime import Forward
from training.scoring import score_outputs

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (1, 8, 32)
CALIBRATION_IMAGES = 1000
log = logging.getLogger("bench.inference_cost")


def int8_dynamic(model: nn.Module) -> nn.Module:
    """Dynamic quantization of the Linear layers only (weights int8, activations quantized per call)."""
    from torch.ao import quantization as tq

    torch.backends.quantized.engine = "x86"
    quantized: nn.Module = tq.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]
    return quantized


class ChannelsLast(nn.Module):
    """A copy of MODEL with NHWC weights, fed NHWC inputs (the layout oneDNN's convolutions prefer)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).to(memory_format=torch.channels_last)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch.contiguous(memory_format=torch.channels_last))  # type: ignore[no-any-return]


def per_image_us(forward: Forward, batch: NDArray[np.float32], seconds: float) -> float:
    """Median time of one forward pass over BATCH, divided by its size, in microseconds."""
    for _ in range(5):
        forward(batch)
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 5:
        start = time.perf_counter()
        forward(batch)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) / len(batch) * 1e6


def answers(
    loaded: LoadedModel, forward: Forward, inputs: NDArray[np.float32]
) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.bool_]]:
    """Digit logits, predicted digits and refusals, as serving computes them (training.scoring)."""
    scores = [
        score_outputs(forward(inputs[start : start + 500]), loaded.calibration, loaded.rejects)
        for start in range(0, len(inputs), 500)
    ]
    logits = np.concatenate([s.logits for s in scores])
    return logits, logits.argmax(1), np.concatenate([s.refused for s in scores])


def bench_model(path: Path, data_dir: Path, seconds: float, rounds: int) -> None:
    loaded = load_artifact(path)
    norm: Normalization = loaded.normalization
    test = load_split(data_dir, "test")
    train = load_split(data_dir, "train")
    inputs = normalize(test.images, norm)
    labels = test.labels.astype(np.int64)
    calibration = torch.from_numpy(normalize(validation_split(train).images[:CALIBRATION_IMAGES], norm))

    folded = fold_batchnorm(loaded.model)
    forms: dict[str, Forward] = {
        "float": numpy_forward(loaded.model),
        "folded": numpy_forward(folded),
        "folded+channels_last": numpy_forward(ChannelsLast(folded)),
        "onnxruntime (served)": runtime.load_served(path).forward,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # What DIGITS_INT8 serves: ranges measured on validation digits, the logits' Linear in float.
        ranges = quantize.calibrate(loaded.model, calibration)
        forms["int8 static (x86)"] = numpy_forward(quantize.quantize(loaded.model, ranges))
        forms["int8 dynamic (Linear)"] = numpy_forward(int8_dynamic(folded))
    deprecations = sorted({str(w.message).splitlines()[0] for w in caught if issubclass(w.category, Warning)})

    params = sum(p.numel() for p in loaded.model.parameters())
    log.info(f"\n{path.name} ({loaded.id}): {params:,} parameters, {mflops_per_image(loaded.model):.3f} MFLOP/image")
    log.info(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), engine x86")
    for message in deprecations:
        log.info(f"  warning while quantizing: {message}")  # those training.quantize does not silence

    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):  # interleaved rounds: a noisy second hits every form, not just one
        for name, forward in forms.items():
            for size in BATCHES:
                times.setdefault((name, size), []).append(per_image_us(forward, inputs[:size], seconds))

    reference, digits, refused = answers(loaded, forms["float"], inputs)
    header = "".join(f"{f'b={size} us/img':>14}" for size in BATCHES)
    log.info(
        f"{'form':<24}{header}{'b=1 vs float':>14}{'agree %':>9}{'refusals same %':>17}"
        f"{'max |dlogit|':>14}{'test acc %':>12}{'refused %':>11}"
    )
    for name, form in forms.items():
        medians = [min(times[name, size]) for size in BATCHES]
        out, out_digits, out_refused = answers(loaded, form, inputs)
        agree = float(np.mean(out_digits == digits)) * 100
        same_refusals = float(np.mean(out_refused == refused)) * 100
        diff = float(np.abs(out - reference).max())
        accuracy = float(np.mean(out_digits == labels)) * 100  # argmax of the digits, refusals aside
        ratio = medians[0] / min(times["float", 1])
        cells = "".join(f"{value:>14.1f}" for value in medians)
        log.info(
            f"{name:<24}{cells}{ratio:>13.2f}x{agree:>9.2f}{same_refusals:>17.2f}"
            f"{diff:>14.2e}{accuracy:>12.2f}{float(np.mean(out_refused)) * 100:>11.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", help="artifact (repeatable); default models/cnn")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (serving's default: 1)")
    parser.add_argument("--seconds", type=float, default=0.3, help="timing per form, batch size and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    runtime.set_threads(args.threads)
    for path in args.model or [ROOT / "models" / "compact.safetensors"]:
        bench_model(path, args.data_dir, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
