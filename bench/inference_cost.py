"""What each inference-time form of a model costs per image, and whether it still gives the same answers.

For each artifact: the model as trained (float), with BatchNorm folded into its convolutions
(training.optimize.fold_batchnorm, what serving runs), folded and channels-last, and two int8 forms
from PyTorch's own (eager, torch.ao) quantization: static (x86 engine, calibrated on MNIST training
images) and dynamic (Linear layers only). Prints the per-image latency of one forward pass at
batch 1, 8 and 32 on one torch thread (serving's DIGITS_TORCH_THREADS default), then each form's
agreement with float (argmax, over the whole MNIST test set), its largest logit difference and its
test accuracy.

All figures of one run come from the same process, interleaved by round, so machine noise hits every
form alike: quote them as ratios to float.

    python -m bench.inference_cost [--model models/cnn.safetensors ...] [--threads 1] [--seconds 0.3]
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.artifacts import load_artifact
from training.flops import mflops_per_image
from training.mnist import load_split
from training.optimize import fold_batchnorm
from training.preprocessing import Normalization, normalize

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (1, 8, 32)
CALIBRATION_IMAGES = 1000
log = logging.getLogger("bench.inference_cost")


def _fusable_groups(model: nn.Module) -> list[tuple[nn.Sequential, list[str]]]:
    """[Conv2d, BatchNorm2d, ReLU?] and [Linear, ReLU] runs inside each nn.Sequential, for fuse_modules."""
    found = []
    for sequential in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(sequential._modules)
        kinds = [type(sequential._modules[name]) for name in names]
        index = 0
        while index < len(names):
            if kinds[index] is nn.Conv2d and index + 1 < len(names) and kinds[index + 1] is nn.BatchNorm2d:
                width = 3 if index + 2 < len(names) and kinds[index + 2] is nn.ReLU else 2
            elif kinds[index] in (nn.Conv2d, nn.Linear) and index + 1 < len(names) and kinds[index + 1] is nn.ReLU:
                width = 2
            else:
                width = 1
            if width > 1:
                found.append((sequential, names[index : index + width]))
            index += width
    return found


def int8_static(model: nn.Module, calibration: torch.Tensor) -> nn.Module:
    """Eager-mode post-training static quantization (x86 engine): conv/linear weights and activations int8."""
    from torch.ao import quantization as tq

    torch.backends.quantized.engine = "x86"
    quantized = copy.deepcopy(model).eval()
    for sequential, names in _fusable_groups(quantized):
        tq.fuse_modules(sequential, [names], inplace=True)  # type: ignore[no-untyped-call]
    wrapped = nn.Sequential(tq.QuantStub(), quantized, tq.DeQuantStub()).eval()
    wrapped.qconfig = tq.get_default_qconfig("x86")  # type: ignore[no-untyped-call]
    tq.prepare(wrapped, inplace=True)  # type: ignore[no-untyped-call]
    with torch.inference_mode():
        for start in range(0, len(calibration), 250):
            wrapped(calibration[start : start + 250])
    tq.convert(wrapped, inplace=True)  # type: ignore[no-untyped-call]
    return wrapped


def int8_dynamic(model: nn.Module) -> nn.Module:
    """Dynamic quantization of the Linear layers only (weights int8, activations quantized per call)."""
    from torch.ao import quantization as tq

    torch.backends.quantized.engine = "x86"
    quantized: nn.Module = tq.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]
    return quantized


def channels_last(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    converted = copy.deepcopy(model).to(memory_format=torch.channels_last)

    def run(batch: torch.Tensor) -> torch.Tensor:
        return converted(batch.contiguous(memory_format=torch.channels_last))  # type: ignore[no-any-return]

    return run


def per_image_us(forward: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor, seconds: float) -> float:
    """Median time of one forward pass over BATCH, divided by its size, in microseconds."""
    with torch.inference_mode():
        for _ in range(5):
            forward(batch)
        samples: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(samples) < 5:
            start = time.perf_counter()
            forward(batch)
            samples.append(time.perf_counter() - start)
    return statistics.median(samples) / len(batch) * 1e6


def logits(forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([forward(inputs[start : start + 500]) for start in range(0, len(inputs), 500)])


def bench_model(path: Path, data_dir: Path, seconds: float, rounds: int) -> None:
    loaded = load_artifact(path)
    norm: Normalization = loaded.normalization
    test = load_split(data_dir, "test")
    train = load_split(data_dir, "train")
    inputs = normalize(test.images, norm)
    labels = torch.from_numpy(test.labels.astype(np.int64))
    calibration = normalize(train.images[:CALIBRATION_IMAGES], norm)

    folded = fold_batchnorm(loaded.model)
    forms: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "float": loaded.model,
        "folded": folded,
        "folded+channels_last": channels_last(folded),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forms["int8 static (x86)"] = int8_static(loaded.model, calibration)
        forms["int8 dynamic (Linear)"] = int8_dynamic(folded)
    deprecations = sorted({str(w.message).splitlines()[0] for w in caught if issubclass(w.category, Warning)})

    params = sum(p.numel() for p in loaded.model.parameters())
    log.info(f"\n{path.name} ({loaded.id}): {params:,} parameters, {mflops_per_image(loaded.model):.3f} MFLOP/image")
    log.info(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), engine x86")
    for message in deprecations:
        log.info(f"  warning while quantizing: {message}")

    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):  # interleaved rounds: a noisy second hits every form, not just one
        for name, forward in forms.items():
            for size in BATCHES:
                times.setdefault((name, size), []).append(per_image_us(forward, inputs[:size], seconds))

    reference = logits(loaded.model, inputs)
    float_accuracy = float((reference.argmax(1) == labels).float().mean()) * 100
    header = "".join(f"{f'b={size} us/img':>14}" for size in BATCHES)
    log.info(f"{'form':<24}{header}{'vs float b=1':>14}{'agree %':>10}{'max |dlogit|':>14}{'test acc %':>12}")
    for name, forward in forms.items():
        medians = [statistics.median(times[name, size]) for size in BATCHES]
        out = logits(forward, inputs)
        agree = float((out.argmax(1) == reference.argmax(1)).float().mean()) * 100
        diff = float((out - reference).abs().max())
        accuracy = float((out.argmax(1) == labels).float().mean()) * 100
        ratio = medians[0] / statistics.median(times["float", 1])
        cells = "".join(f"{value:>14.1f}" for value in medians)
        log.info(f"{name:<24}{cells}{ratio:>13.2f}x{agree:>10.2f}{diff:>14.2e}{accuracy:>12.2f}")
    log.info(f"float test accuracy {float_accuracy:.2f}% on {len(labels)} images")


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
    for path in args.model or [ROOT / "models" / "cnn.safetensors"]:
        bench_model(path, args.data_dir, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
