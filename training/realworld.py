"""`python -m training realworld`: accuracy per preprocess mode on real-world-looking uploads.

Measures what the server does: decode the file, `prepare_pixels(image, mode)`, `normalize` with the
artifact's constants, forward pass. An image flagged blank, or refused as not a digit (energy above
the artifact's threshold), counts as wrong (the server would answer `digit: null`); both counts are
shown with the commonest confusions (true>read, null as "_").
Non-digit subsets get their own table: how many were refused (blank or not a digit, which is right for
them) and how many got a confident digit back.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from training import evalset
from training.artifacts import LoadedModel, load_artifact, score_batch
from training.calibration import expected_calibration_error, softmax
from training.evalset.nondigits import font_families
from training.evalset.numbers import NumberSample, generate_numbers
from training.failures import failure_sheet
from training.optimize import for_serving
from training.preprocessing import PREPROCESS_MODES, PreprocessMode, normalize, prepare_pixels

log = logging.getLogger("training")


# A digit read with at least this probability counts as a confident answer to a non-digit.
CONFIDENT = 0.9
TOP_CONFUSIONS = 3


@dataclass(frozen=True)
class Score:
    subset: str
    mode: PreprocessMode
    correct: int
    blank: int
    total: int
    ms_per_image: float
    confusions: tuple[tuple[str, int], ...] = ()  # ("4>9", count), commonest first; "_" is blank or refused
    confident: int = 0  # answers with probability >= CONFIDENT (for non-digits: confident mistakes)
    refused: int = 0  # answered "not a digit" by the energy threshold (blanks not counted)
    warned: int = 0  # answered with the several-digits warning

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def is_nondigit(self) -> bool:
        return self.subset in evalset.NONDIGIT_SUBSETS


@dataclass(frozen=True)
class Outcome:
    """What the server would answer for each image of a subset under one mode."""

    predicted: NDArray[np.int64]
    confidence: NDArray[np.float32]
    blank: NDArray[np.bool_]  # no digit found: the framing answers blank
    ms_per_image: float
    refused: NDArray[np.bool_]  # refused as not a digit (energy above the threshold), not blank
    warned: NDArray[np.bool_]  # several digits seen
    logits: NDArray[np.float32]


def answer(loaded: LoadedModel, samples: list[evalset.Sample], mode: PreprocessMode) -> Outcome:
    """Prepare each sample as the server does and run the model on the frames."""
    prepared, elapsed = [], 0.0
    for sample in samples:  # decoded one at a time: thousands of photos would not fit in memory
        image = sample.image()
        started = time.perf_counter()
        prepared.append(prepare_pixels(image, mode))
        elapsed += time.perf_counter() - started
    batch = normalize(np.stack([p.pixels for p in prepared]), loaded.normalization)
    scores = score_batch(loaded, batch)
    confidence, predicted = scores.probabilities.max(axis=1), scores.probabilities.argmax(axis=1)
    blank = np.array([p.blank for p in prepared], dtype=bool)
    refused = scores.refused & ~blank
    warned = np.array([p.digits_seen > 1 for p in prepared], dtype=bool)
    ms = 1000 * elapsed / max(1, len(samples))
    return Outcome(predicted, confidence, blank, ms, refused, warned, scores.logits)


def _confusions(labels: NDArray[np.int64], outcome: Outcome) -> tuple[tuple[str, int], ...]:
    null = (outcome.blank | outcome.refused).tolist()
    read = [("_" if b else str(p)) for p, b in zip(outcome.predicted.tolist(), null, strict=True)]
    wrong = Counter(f"{label}>{r}" for label, r in zip(labels.tolist(), read, strict=True) if str(label) != r)
    return tuple(wrong.most_common(TOP_CONFUSIONS))


Failures = dict[str, list[tuple[evalset.Sample, str]]]


@dataclass(frozen=True)
class Calibrated:
    """Expected calibration error (15 bins) of the answered digits of the issue-9 kinds, one mode."""

    mode: PreprocessMode
    images: int
    ece_uncalibrated: float  # softmax of the raw logits (T = 1)
    ece_served: float  # softmax of logits / T, as served


def score(
    loaded: LoadedModel,
    samples: list[evalset.Sample],
    modes: tuple[PreprocessMode, ...],
    failures: Failures | None = None,
    calibration: list[Calibrated] | None = None,
) -> list[Score]:
    """Accuracy of a model on each subset of `samples`, under each preprocess mode.

    `failures`, when given, collects the misread digits of the last mode (sample, what was read);
    `calibration` receives the ECE per mode over the images of the issue-9 kinds that got a digit.
    """
    scores = []
    answered: dict[PreprocessMode, list[tuple[NDArray[np.float32], NDArray[np.int64]]]] = {m: [] for m in modes}
    for subset in evalset.ALL_SUBSETS:
        chosen = [s for s in samples if s.subset == subset]
        if not chosen:
            continue
        labels = np.array([s.label for s in chosen])
        for mode in modes:
            outcome = answer(loaded, chosen, mode)
            null = outcome.blank | outcome.refused
            right = (outcome.predicted == labels) & ~null
            correct = int(right.sum())
            if failures is not None and mode == modes[-1] and subset not in evalset.NONDIGIT_SUBSETS:
                failures[subset] = [
                    (s, "_" if b else str(p))
                    for s, p, b, ok in zip(chosen, outcome.predicted, null, right, strict=True)
                    if not ok
                ]
            if subset in evalset.NONDIGIT_SUBSETS:
                correct = int(null.sum())  # refusing is the right answer to a non-digit
            elif subset in evalset.KINDS:
                answered[mode].append((outcome.logits[~null], labels[~null]))
            confident = int(((outcome.confidence >= CONFIDENT) & ~null).sum())
            scores.append(
                Score(
                    subset,
                    mode,
                    correct,
                    int(outcome.blank.sum()),
                    len(chosen),
                    outcome.ms_per_image,
                    () if subset in evalset.NONDIGIT_SUBSETS else _confusions(labels, outcome),
                    confident,
                    int(outcome.refused.sum()),
                    int(outcome.warned.sum()),
                )
            )
    if calibration is not None:
        for mode, parts in answered.items():
            if parts:
                logits = np.concatenate([p[0] for p in parts])
                labels = np.concatenate([p[1] for p in parts])
                raw = softmax(logits)
                served = softmax(logits, loaded.calibration.temperature)
                calibration.append(
                    Calibrated(
                        mode,
                        len(labels),
                        expected_calibration_error(raw, labels),
                        expected_calibration_error(served, labels),
                    )
                )
    return scores


@dataclass(frozen=True)
class NumbersScore:
    """Multi-digit numbers read with segment=true, as the server reads them."""

    total: int
    exact: int  # every digit read right, none missing, none extra, none refused
    count_right: int  # as many pieces as digits
    warned: int  # the several-digits warning was given
    by_length: dict[int, tuple[int, int]]  # digits -> (exact, total)
    ms_per_image: float


def read_numbers(loaded: LoadedModel, samples: list[NumberSample]) -> NumbersScore:
    exact = count_right = warned = 0
    by_length: dict[int, list[int]] = {}
    elapsed = 0.0
    for sample in samples:
        image = sample.image()
        started = time.perf_counter()
        prepared = prepare_pixels(image, "auto", segment=True)
        elapsed += time.perf_counter() - started
        read = ""
        if prepared.candidates:
            frames = np.stack([piece.pixels for piece in prepared.candidates])
            scores = score_batch(loaded, normalize(frames, loaded.normalization))
            digits = scores.probabilities.argmax(axis=1)
            confidences = np.where(scores.refused, 0.0, scores.probabilities.max(axis=1)).tolist()
            chosen = prepared.choose_pieces(confidences)
            read = "".join("?" if scores.refused[k] else str(digits[k]) for k in chosen)
        right = read == sample.number
        exact += right
        count_right += len(read) == len(sample.number)
        warned += prepared.digits_seen > 1
        tally = by_length.setdefault(len(sample.number), [0, 0])
        tally[0] += right
        tally[1] += 1
    ms = 1000 * elapsed / max(1, len(samples))
    lengths = {n: (a, b) for n, (a, b) in sorted(by_length.items())}
    return NumbersScore(len(samples), exact, count_right, warned, lengths, ms)


def format_numbers(result: NumbersScore) -> str:
    lengths = "  ".join(f"{n} digits {a}/{b}" for n, (a, b) in result.by_length.items())
    return (
        f"numbers (segment=true): {result.exact}/{result.total} read exactly "
        f"({result.exact / max(1, result.total):.2%}); right count of digits {result.count_right}/{result.total}; "
        f"warned {result.warned}/{result.total}; {result.ms_per_image:.2f} ms/img framing\n  {lengths}"
    )


def format_table(scores: list[Score]) -> str:
    """Plain-text tables: one row per subset and mode; non-digits in a second table."""
    digits = [s for s in scores if not s.is_nondigit]
    lines = [
        f"{'subset':<9} {'mode':<6} {'accuracy':>8} {'correct':>9} {'blank':>6} {'refused':>7} {'warned':>6} "
        f"{'ms/img':>7}  confusions"
    ]
    for s in digits:
        counts = f"{s.correct:>4}/{s.total:<4} {s.blank:>6} {s.refused:>7} {s.warned:>6}"
        pairs = " ".join(f"{pair}:{n}" for pair, n in s.confusions)
        lines.append(f"{s.subset:<9} {s.mode:<6} {s.accuracy:>8.2%} {counts} {s.ms_per_image:>7.2f}  {pairs}")
    others = [s for s in scores if s.is_nondigit]
    if others:
        if digits:
            lines.append("")
        lines.append(
            f"{'nondigit':<9} {'mode':<6} {'refused':>8} {'count':>9} {'blank':>6} {'energy':>7} {'p>=0.9':>6} "
            f"{'ms/img':>7}"
        )
        for s in others:
            counts = f"{s.correct:>4}/{s.total:<4} {s.blank:>6} {s.refused:>7} {s.confident:>6}"
            lines.append(f"{s.subset:<9} {s.mode:<6} {s.accuracy:>8.2%} {counts} {s.ms_per_image:>7.2f}")
    return "\n".join(lines)


def _samples(args: argparse.Namespace) -> list[evalset.Sample]:
    if args.samples is not None:
        return evalset.load(args.samples)
    samples = []
    for subset in args.subsets:
        count = args.count or evalset.DEFAULT_COUNTS[subset]
        samples += evalset.generate(
            subset, count, seed=args.seed, split=args.split, mnist_dir=args.data_dir, photo_scale=args.photo_scale
        )
    if args.write is not None:
        evalset.save(samples, args.write)
        log.info("wrote %d samples under %s", len(samples), args.write)
    return samples


def run(args: argparse.Namespace) -> int:
    # The form the server answers with: BatchNorm folded, and int8 where asked (as DIGITS_INT8 does).
    loaded = for_serving(load_artifact(args.model), args.int8)
    samples = _samples(args)
    log.info(
        "model %s on %d images; %s split of the issue-9 kinds and non-digits (MNIST test digits only)",
        loaded.id,
        len(samples),
        args.split,
    )
    if any(sample.subset in ("letters", "symbols") for sample in samples):
        # The letters and symbols are drawn with whatever fonts the machine has (Chromium's package
        # brings Liberation beside DejaVu): the same seed on another font set is another test set.
        families = ", ".join(f"{family} ({count})" for family, count in font_families().items())
        log.info("letters and symbols drawn with: %s", families or "Pillow's built-in font")
    failures: Failures | None = {} if args.failures is not None else None
    calibrated: list[Calibrated] = []
    log.info("%s", format_table(score(loaded, samples, tuple(args.modes), failures, calibrated)))
    for c in calibrated:
        log.info(
            "ECE (15 bins), %s, %d answered images of the issue-9 kinds: %.2f%% uncalibrated, %.2f%% served (T=%.3f)",
            c.mode,
            c.images,
            100 * c.ece_uncalibrated,
            100 * c.ece_served,
            loaded.calibration.temperature,
        )
    if args.numbers and args.samples is None:
        numbers = generate_numbers(args.numbers, args.seed, evalset.split_pool(10000, args.split), args.data_dir)
        log.info("%s", format_numbers(read_numbers(loaded, numbers)))
    if failures is not None:
        args.failures.write_bytes(failure_sheet(failures, args.modes[-1]))
        log.info("wrote misread uploads and their frames (%s mode) to %s", args.modes[-1], args.failures)
    return 0


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], data_dir: Path) -> None:
    """Register `realworld` on the training CLI."""
    cmd = commands.add_parser("realworld", help="accuracy per preprocess mode on photo/drawing/scan-like images")
    cmd.add_argument("--model", type=Path, required=True, help="artifact (.safetensors)")
    cmd.add_argument("--samples", type=Path, help="evaluate files written by --write instead of generating")
    cmd.add_argument("--subsets", nargs="+", choices=evalset.ALL_SUBSETS, default=list(evalset.ALL_SUBSETS))
    cmd.add_argument(
        "--count",
        type=int,
        help="images per subset; default: 2000 photos, 1000 drawn, 1797 scans, 300 per issue-9 kind, 100 per non-digit",
    )
    cmd.add_argument(
        "--split",
        choices=evalset.SPLITS,
        default="dev",
        help="dev (tune on it) or final (report only) source digits and seeds for the issue-9 kinds and non-digits",
    )
    cmd.add_argument("--modes", nargs="+", choices=PREPROCESS_MODES, default=["raw", "auto", "mnist"])
    cmd.add_argument(
        "--numbers",
        type=int,
        default=300,
        help="photographed numbers of 2-5 MNIST test digits read with segment=true (0: none)",
    )
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--int8", action="store_true", help="answer with the artifact's recorded int8 form (DIGITS_INT8)")
    cmd.add_argument("--photo-scale", type=float, nargs=2, default=evalset.SCALE_RANGE, metavar=("LOW", "HIGH"))
    cmd.add_argument("--write", type=Path, help="also save the generated images under this directory")
    cmd.add_argument(
        "--failures", type=Path, help="write a PNG of misread digits beside their frames (last mode) to this path"
    )
    cmd.add_argument("--data-dir", type=Path, default=data_dir, help="MNIST directory (photos use its test split)")
    cmd.set_defaults(handler=run)
