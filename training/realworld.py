"""`python -m training realworld`: accuracy per preprocess mode on real-world-looking uploads.

Measures what the server does: decode the file, `prepare_pixels(image, mode)`, `normalize` with the
artifact's constants, forward pass. An image flagged blank counts as wrong (the server would answer
`digit: null`), and the blank count is shown.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training import evalset
from training.artifacts import LoadedModel, load_artifact, predict_probabilities
from training.preprocessing import PREPROCESS_MODES, PreprocessMode, normalize, prepare_pixels

log = logging.getLogger("training")


@dataclass(frozen=True)
class Score:
    subset: str
    mode: PreprocessMode
    correct: int
    blank: int
    total: int
    ms_per_image: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def score(loaded: LoadedModel, samples: list[evalset.Sample], modes: tuple[PreprocessMode, ...]) -> list[Score]:
    """Accuracy of a model on each subset of `samples`, under each preprocess mode."""
    scores = []
    for subset in evalset.SUBSETS:
        chosen = [s for s in samples if s.subset == subset]
        if not chosen:
            continue
        labels = np.array([s.label for s in chosen])
        for mode in modes:
            prepared, elapsed = [], 0.0
            for sample in chosen:  # decoded one at a time: thousands of photos would not fit in memory
                image = sample.image()
                started = time.perf_counter()
                prepared.append(prepare_pixels(image, mode))
                elapsed += time.perf_counter() - started
            batch = normalize(np.stack([p.pixels for p in prepared]), loaded.normalization)
            predicted = predict_probabilities(loaded, batch).argmax(dim=1).numpy()
            blank = np.array([p.blank for p in prepared])
            correct = int(((predicted == labels) & ~blank).sum())
            scores.append(Score(subset, mode, correct, int(blank.sum()), len(chosen), 1000 * elapsed / len(chosen)))
    return scores


def format_table(scores: list[Score]) -> str:
    """A plain-text table: one row per subset and mode."""
    lines = [f"{'subset':<8} {'mode':<6} {'accuracy':>8} {'correct':>9} {'blank':>6} {'ms/img':>7}"]
    for s in scores:
        counts = f"{s.correct:>4}/{s.total:<4} {s.blank:>6}"
        lines.append(f"{s.subset:<8} {s.mode:<6} {s.accuracy:>8.2%} {counts} {s.ms_per_image:>7.2f}")
    return "\n".join(lines)


def _samples(args: argparse.Namespace) -> list[evalset.Sample]:
    if args.samples is not None:
        return evalset.load(args.samples)
    samples = []
    for subset in args.subsets:
        count = args.count or evalset.DEFAULT_COUNTS[subset]
        samples += evalset.generate(
            subset, count, seed=args.seed, mnist_dir=args.data_dir, photo_scale=args.photo_scale
        )
    if args.write is not None:
        evalset.save(samples, args.write)
        log.info("wrote %d samples under %s", len(samples), args.write)
    return samples


def run(args: argparse.Namespace) -> int:
    loaded = load_artifact(args.model)
    samples = _samples(args)
    log.info("model %s on %d images (photos are MNIST test digits, never trained on)", loaded.id, len(samples))
    log.info("%s", format_table(score(loaded, samples, tuple(args.modes))))
    return 0


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], data_dir: Path) -> None:
    """Register `realworld` on the training CLI."""
    cmd = commands.add_parser("realworld", help="accuracy per preprocess mode on photo/drawing/scan-like images")
    cmd.add_argument("--model", type=Path, required=True, help="artifact (.safetensors)")
    cmd.add_argument("--samples", type=Path, help="evaluate files written by --write instead of generating")
    cmd.add_argument("--subsets", nargs="+", choices=evalset.SUBSETS, default=list(evalset.SUBSETS))
    cmd.add_argument("--count", type=int, help="images per subset; default: 2000 photos, 1000 drawn, 1797 scans")
    cmd.add_argument("--modes", nargs="+", choices=PREPROCESS_MODES, default=["raw", "auto", "mnist"])
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--photo-scale", type=float, nargs=2, default=evalset.SCALE_RANGE, metavar=("LOW", "HIGH"))
    cmd.add_argument("--write", type=Path, help="also save the generated images under this directory")
    cmd.add_argument("--data-dir", type=Path, default=data_dir, help="MNIST directory (photos use its test split)")
    cmd.set_defaults(handler=run)
