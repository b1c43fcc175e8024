"""A training bank: MNIST training digits rendered as uploads, plus non-digits, framed as served.

Each image is rendered (training.synth.digits / nondigits) and then passed through the server's
own `prepare_pixels(image, "auto")`, so the model trains on exactly the 28x28 frames it will be
given. Images the server would answer blank (it never runs the model on them) are dropped and
counted per style. Rendering is seeded per image from (seed, kind, index), so a bank does not
depend on how many processes built it. Banks are cached as .npz files (no pickles) keyed by the
parameters, the source digits and the source code of the renderers and the framing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from training.preprocessing import prepare_pixels
from training.synth import digits, nondigits

log = logging.getLogger("training")

NOT_A_DIGIT = 10  # the label of the 11th class
_DIGIT, _NONDIGIT = 0, 1  # the kind part of each image's seed
_CHUNK = 64  # images per task sent to a worker: large enough to amortise the transfer
# Source files whose changes change a bank: the renderers and the framing they pass through.
_SOURCES = (
    "synth/strokes.py",
    "synth/media.py",
    "synth/digits.py",
    "synth/nondigits.py",
    "synth/letters.py",
    "synth/bank.py",
    "preprocessing.py",
    "ink.py",
    "framing.py",
    "segment.py",
)


@dataclass(frozen=True)
class Bank:
    images: NDArray[np.uint8]  # (M, 28, 28) frames as the model sees them
    labels: NDArray[np.int64]  # (M,) 0-9, or NOT_A_DIGIT
    styles: NDArray[np.str_]  # (M,) "digit/<style>" or "nondigit/<style>"
    sources: NDArray[np.int64]  # (M,) the index of each frame's source digit; -1 - j for non-digit j
    rendered: dict[str, int]  # images rendered per style, kept or not
    dropped: dict[str, int]  # images answered blank per style (not in the bank)
    lookalikes: dict[str, int]  # non-digits left out because their frame is a lone stroke (reads as 1)

    def __len__(self) -> int:
        return len(self.labels)

    def drop_rates(self) -> dict[str, float]:
        return {style: self.dropped.get(style, 0) / count for style, count in sorted(self.rendered.items())}


def render(seed: int, kind: int, index: int, digit: NDArray[np.uint8] | None) -> tuple[str, Image.Image]:
    """Image `index` of a bank: a digit (kind 0, from `digit`) or a non-digit (kind 1)."""
    rng = np.random.default_rng([seed, kind, index])
    if kind == _DIGIT:
        if digit is None:
            raise ValueError("a digit rendering needs the digit")
        style, image = digits.render_digit_styled(digit, rng)
        return f"digit/{style}", image
    style, image = nondigits.render_nondigit_styled(rng)
    return f"nondigit/{style}", image


@dataclass(frozen=True)
class _Task:
    seed: int
    kind: int
    start: int
    digits: NDArray[np.uint8] | None  # the chunk's digits (kind 0), None for non-digits
    count: int


_KEPT, _BLANK, _LOOKALIKE = 0, 1, 2
# A framed non-digit whose ink spreads this little across its long axis (the ratio of the standard
# deviations along its two principal axes) is one straight stroke: a 1, upright or slanted.
_STROKE_SPREAD = 0.3
# ...unless that axis lies down: a 1 stands. Of the 6,742 MNIST training 1s, none as thin as that leans
# more than 55 degrees from upright (one more than 50), so a wave, a dash or an arrow lying on its
# side is taught as what it is, not left out as a 1.
_ONE_LEAN_DEGREES = 55.0


def reads_as_one(frame: NDArray[np.uint8]) -> bool:
    """Whether a frame's ink is one straight bar, upright or slanted, which anyone would read as a 1.

    Framing keeps the largest piece of ink, so a small glyph, a shape or an object in a photo can come
    out as one bar; such a frame must not be taught as "not a digit".
    """
    weights = frame.astype(np.float64)
    total = weights.sum()
    if total <= 0:
        return False
    rows, cols = np.indices(frame.shape)
    my, mx = (rows * weights).sum() / total, (cols * weights).sum() / total
    dy, dx = rows - my, cols - mx
    covariance = np.array(
        [[(dy * dy * weights).sum(), (dy * dx * weights).sum()], [(dy * dx * weights).sum(), (dx * dx * weights).sum()]]
    )
    (low, high), axes = np.linalg.eigh(covariance / total)
    if high <= 0 or np.sqrt(max(low, 0.0) / high) >= _STROKE_SPREAD:
        return False
    along_rows, along_cols = np.abs(axes[:, 1])  # the long axis, (rows, columns)
    return bool(np.degrees(np.arctan2(along_cols, along_rows)) <= _ONE_LEAN_DEGREES)


def _run(task: _Task) -> tuple[list[str], NDArray[np.uint8], NDArray[np.int8]]:
    """Render and frame one chunk; returns styles, frames and outcomes (_KEPT, ...) in index order."""
    styles, frames, outcome = [], np.zeros((task.count, 28, 28), np.uint8), np.zeros(task.count, np.int8)
    for offset in range(task.count):
        digit = None if task.digits is None else task.digits[offset]
        style, image = render(task.seed, task.kind, task.start + offset, digit)
        prepared = prepare_pixels(image, "auto")
        styles.append(style)
        frames[offset] = prepared.pixels
        if prepared.blank:
            outcome[offset] = _BLANK
        elif task.kind == _NONDIGIT and reads_as_one(prepared.pixels):
            outcome[offset] = _LOOKALIKE
    return styles, frames, outcome


def _tasks(images: NDArray[np.uint8], nondigit_count: int, seed: int) -> Iterator[_Task]:
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK]
        yield _Task(seed, _DIGIT, start, chunk, len(chunk))
    for start in range(0, nondigit_count, _CHUNK):
        yield _Task(seed, _NONDIGIT, start, None, min(_CHUNK, nondigit_count - start))


def build_bank_detailed(
    images: NDArray[np.uint8], labels: NDArray[np.integer], nondigit_count: int, seed: int, processes: int = 1
) -> Bank:
    """Render, frame and keep the non-blank images; see `build_bank`."""
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"expected (N, 28, 28) uint8 digits, got {images.shape} {images.dtype}")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if nondigit_count < 0 or processes < 1:
        raise ValueError(f"nondigit_count must be >= 0 and processes >= 1 (got {nondigit_count}, {processes})")
    tasks = list(_tasks(images, nondigit_count, seed))
    if processes == 1 or len(tasks) <= 1:
        results = [_run(task) for task in tasks]
    else:
        # spawn: no forked copy of a parent holding torch threads or open files; imap keeps the order.
        with multiprocessing.get_context("spawn").Pool(min(processes, len(tasks))) as pool:
            results = list(pool.imap(_run, tasks))
    styles = [style for result in results for style in result[0]]
    frames = np.concatenate([result[1] for result in results]) if results else np.zeros((0, 28, 28), np.uint8)
    outcome = np.concatenate([result[2] for result in results]) if results else np.zeros(0, np.int8)
    all_labels = np.concatenate([labels.astype(np.int64), np.full(nondigit_count, NOT_A_DIGIT, np.int64)])
    all_sources = np.concatenate([np.arange(len(images)), -1 - np.arange(nondigit_count)]).astype(np.int64)
    keep = outcome == _KEPT
    kept_styles = np.asarray(styles, dtype=np.str_)[keep] if styles else np.zeros(0, np.str_)
    return Bank(
        images=frames[keep],
        labels=all_labels[keep],
        styles=kept_styles,
        sources=all_sources[keep],
        rendered=dict(Counter(styles)),
        dropped=dict(Counter(style for style, o in zip(styles, outcome.tolist(), strict=True) if o == _BLANK)),
        lookalikes=dict(Counter(style for style, o in zip(styles, outcome.tolist(), strict=True) if o == _LOOKALIKE)),
    )


def build_bank(
    images: NDArray[np.uint8], labels: NDArray[np.integer], nondigit_count: int, seed: int, processes: int = 1
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Frames (M, 28, 28) and labels (M,) of each digit rendered once plus `nondigit_count` non-digits.

    Non-digits get label NOT_A_DIGIT (10). Images the server would answer blank are left out, and so
    are non-digits framed as a lone stroke (a 1), so M is at most len(images) + nondigit_count. The
    result depends on the inputs and `seed` only, not on `processes`.
    """
    bank = build_bank_detailed(images, labels, nondigit_count, seed, processes)
    return bank.images, bank.labels


def source_fingerprint() -> str:
    """A hash of the code that makes a bank: renderers and framing."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    # The stroke letters' paths are the package's data, not this repository's code.
    digest.update(f"Hershey-Fonts {importlib.metadata.version('Hershey-Fonts')}".encode())
    return digest.hexdigest()


def cache_key(images: NDArray[np.uint8], labels: NDArray[np.integer], nondigit_count: int, seed: int) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels.astype(np.int64)).tobytes())
    digest.update(f"{len(images)}:{nondigit_count}:{seed}:{source_fingerprint()}".encode())
    return digest.hexdigest()[:24]


def save_bank(bank: Bank, path: Path) -> None:
    """Write a bank as .npz (plain arrays only), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(bank.rendered)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(
        temporary,
        images=bank.images,
        labels=bank.labels,
        styles=bank.styles.astype(np.str_),
        sources=bank.sources,
        style_names=np.asarray(names, dtype=np.str_),
        rendered=np.asarray([bank.rendered[n] for n in names], np.int64),
        dropped=np.asarray([bank.dropped.get(n, 0) for n in names], np.int64),
        lookalikes=np.asarray([bank.lookalikes.get(n, 0) for n in names], np.int64),
    )
    temporary.replace(path)


def load_bank(path: Path) -> Bank:
    """Read a bank written by `save_bank` (never unpickles)."""
    with np.load(path, allow_pickle=False) as data:
        names = [str(n) for n in data["style_names"]]
        return Bank(
            images=data["images"],
            labels=data["labels"],
            styles=data["styles"],
            sources=data["sources"],
            rendered=dict(zip(names, data["rendered"].tolist(), strict=True)),
            dropped={n: d for n, d in zip(names, data["dropped"].tolist(), strict=True) if d},
            lookalikes={n: d for n, d in zip(names, data["lookalikes"].tolist(), strict=True) if d},
        )


def load_or_build_bank(
    cache_dir: Path,
    images: NDArray[np.uint8],
    labels: NDArray[np.integer],
    nondigit_count: int,
    seed: int,
    processes: int = 1,
) -> Bank:
    """The bank for these inputs from `cache_dir` if built before, else built and cached there."""
    path = cache_dir / f"bank-{cache_key(images, labels, nondigit_count, seed)}.npz"
    if path.is_file():
        log.info("bank: cached %s", path)
        return load_bank(path)
    bank = build_bank_detailed(images, labels, nondigit_count, seed, processes)
    save_bank(bank, path)
    log.info("bank: wrote %s (%d images)", path, len(bank))
    return bank
