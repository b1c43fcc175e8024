"""Several digits in one image: split an ink map into digit-sized pieces, left to right.

Connected pieces of ink are grouped when they overlap horizontally (a 5's hat, the dot of a broken
4), since digits in a number stand side by side; a group much lower than the tallest is a speck,
a dash or a point, not a digit. For reading (`split_wide`), a group much wider than tall is taken
as touching digits and cut where the fewest ink columns are. Where such a cut is in doubt,
`find_slots` offers the other reading as well, for the model to choose between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from training.ink import KEEP_FRACTION, label_components, max_pool

LABEL_MAX_SIDE = 128  # pieces are found on a copy max-pooled to this side, as training.ink does
MERGE_OVERLAP = 0.5  # groups overlapping by this share of the narrower one's width are one digit
# A group lower than DIGIT_HEIGHT of the tallest one, or with less ink than DIGIT_MASS of the
# heaviest, is a speck, a dash or a stray pen mark beside the digit (a few MNIST digits have one).
DIGIT_HEIGHT, DIGIT_MASS = 0.45, 0.2
# A 1 holds a fraction of an 8's ink but stands as tall as its neighbours: a piece within this
# factor of the tallest inked one's height needs only the speck rule's share of ink (KEEP_FRACTION).
ROW_TALL = 0.85
# A narrow stroke lower than the tallest group and this close to a neighbour is a broken-off part of
# that digit (an open 4's left arm), not a 1: a 1 in a number stands as tall as its neighbours.
FRAGMENT_WIDTH, FRAGMENT_HEIGHT, FRAGMENT_GAP = 0.35, 0.85, 0.3
WIDE = 1.4  # a group wider than this many times its height holds touching digits
# Digits in one number are written about as tall as each other, and no digit is much wider than the
# tallest one is high: a group wider than ROW_WIDE times the row's tallest group is touching digits
# even when it is not WIDE for its own height (two touching digits are often about as wide as tall).
ROW_WIDE = 1.1
SPLIT_WINDOW = (0.25, 0.75)  # the cut is looked for in this part of the group's width
SPLIT_MIN_HEIGHT, SPLIT_MIN_PART = 8, 0.4  # map pixels; share of the group's height
MAX_PIECES = 24  # more components than this is texture or noise, not a number: read as one image
# Ink alone cannot tell a wide 0 from two touching digits, nor a 1 joined to its neighbour from one
# digit: where the rules above may have cut wrong, a slot also holds the other reading (the two parts
# rejoined, or a piece this wide for the row's height cut once into parts no narrower than
# OTHER_MIN_PART of its height), and the model's confidence chooses (`prefers_other`).
OTHER_WIDE, OTHER_MIN_PART = 0.8, 0.15


@dataclass(frozen=True)
class Piece:
    """One digit-sized piece: its box in map pixels (left, top, right, bottom; right/bottom exclusive)."""

    box: tuple[int, int, int, int]
    mask: NDArray[np.bool_]  # the map's shape, True on this piece's ink

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]


def _box(mask: NDArray[np.bool_]) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    shared = min(a[2], b[2]) - max(a[0], b[0])
    return shared >= MERGE_OVERLAP * min(a[2] - a[0], b[2] - b[0])


def _components(ink: NDArray[np.bool_], strength: NDArray[np.float32]) -> list[NDArray[np.bool_]]:
    """Connected pieces of ink (found on a pooled copy), without specks, as full-size masks."""
    k = math.ceil(max(ink.shape) / LABEL_MAX_SIDE)
    pooled = max_pool(ink.astype(np.float32), k) > 0
    labels = label_components(pooled)
    full = np.repeat(np.repeat(labels, k, axis=0), k, axis=1)[: ink.shape[0], : ink.shape[1]]
    full = np.where(ink, full, -1)
    found = np.unique(full[full >= 0])
    if len(found) > MAX_PIECES:
        return [ink]
    masks = [full == label for label in found]
    mass = np.array([float(strength[m].sum()) for m in masks])
    return [m for m, w in zip(masks, mass, strict=True) if w >= KEEP_FRACTION * mass.max()]


def _fragment_of(a: Piece, b: Piece, tallest: int) -> bool:
    """Whether one of a and b is a broken-off stroke of the other."""
    gap = max(a.box[0], b.box[0]) - min(a.box[2], b.box[2])
    if gap >= FRAGMENT_GAP * tallest:
        return False
    return any(p.width < FRAGMENT_WIDTH * p.height and p.height < FRAGMENT_HEIGHT * tallest for p in (a, b))


def _merge(masks: list[NDArray[np.bool_]]) -> list[Piece]:
    pieces = [Piece(_box(m), m) for m in masks]
    tallest = max(p.height for p in pieces)
    merged = True
    while merged:
        merged = False
        for i in range(len(pieces)):
            for j in range(i + 1, len(pieces)):
                a, b = pieces[i], pieces[j]
                if _overlap(a.box, b.box) or _fragment_of(a, b, tallest):
                    mask = pieces[i].mask | pieces[j].mask
                    pieces[i] = Piece(_box(mask), mask)
                    del pieces[j]
                    merged = True
                    break
            if merged:
                break
    return pieces


def _split(piece: Piece, strength: NDArray[np.float32], row_height: float) -> list[Piece]:
    """Cut a group much wider than tall (or than the row is high) at its vertical-projection minimum,
    recursively.

    A flat mark (a dash, a ruled stroke) is no row of digits: it is cut only when it is at least
    SPLIT_MIN_HEIGHT pixels high, and never into parts narrower than SPLIT_MIN_PART of its height,
    which also bounds the pieces (and frames to run) one image can make.
    """
    wide = piece.width > WIDE * piece.height or piece.width > ROW_WIDE * row_height
    if not wide or piece.height < SPLIT_MIN_HEIGHT:
        return [piece]
    low = max(round(piece.width * SPLIT_WINDOW[0]), math.ceil(SPLIT_MIN_PART * piece.height))
    high = min(round(piece.width * SPLIT_WINDOW[1]), piece.width - math.ceil(SPLIT_MIN_PART * piece.height))
    parts = _cut(piece, strength, low, high)
    if len(parts) < 2:
        return [piece]
    return [p for part in parts for p in _split(part, strength, row_height)]


def _cut(piece: Piece, strength: NDArray[np.float32], low: int, high: int) -> list[Piece]:
    """The piece cut at the column with the least ink between LOW and HIGH (offsets into its width)."""
    if high <= low:
        return [piece]
    left, _, right, _ = piece.box
    profile = np.where(piece.mask, strength, 0)[:, left:right].sum(axis=0)
    cut = left + low + int(np.argmin(profile[low:high]))
    columns = np.arange(piece.mask.shape[1])
    parts = [piece.mask & (columns < cut)[None, :], piece.mask & (columns >= cut)[None, :]]
    return [Piece(_box(part), part) for part in parts if part.any()]


def may_hold_several(strength: NDArray[np.float32], floor: float = 0.0) -> bool:
    """Whether a column with no ink lies between inked columns: without one, pieces overlap or touch."""
    columns = np.flatnonzero((strength > floor).any(axis=0))
    return bool(len(columns) > 1 and columns[-1] - columns[0] + 1 > len(columns))


def find_pieces(strength: NDArray[np.float32], split_wide: bool = False, floor: float = 0.0) -> list[Piece]:
    """Digit-sized pieces of an ink map (0 = paper, 1 = full ink), left to right."""
    ink = strength > floor
    if not ink.any():
        return []
    groups = _merge(_components(ink, strength))
    pieces = _digit_sized(groups, strength)
    if split_wide:
        # The row's height is only a scale when there is a row: a lone group is judged on its own shape.
        row_height = max(p.height for p in pieces) if len(pieces) > 1 else math.inf
        # Every group is cut before ink is compared, so a digit is weighed against single digits, not
        # against a group of touching ones holding several digits' ink; the cuts can also leave a
        # faint sliver (a shadow's edge joined to the digit), which the same rule drops.
        pieces = _digit_sized([part for g in groups for part in _split(g, strength, row_height)], strength)
    return sorted(pieces, key=lambda p: p.box[0])[:MAX_PIECES]  # bounds the frames one upload can cost


def _digit_sized(pieces: list[Piece], strength: NDArray[np.float32]) -> list[Piece]:
    """Pieces with enough ink, then those of them tall enough (a faint tall line sets no scale)."""
    if not pieces:
        return []
    mass = [float(strength[p.mask].sum()) for p in pieces]
    heaviest = max(mass)
    tallest = max(p.height for p, m in zip(pieces, mass, strict=True) if m >= DIGIT_MASS * heaviest)
    return [
        p
        for p, m in zip(pieces, mass, strict=True)
        if p.height >= DIGIT_HEIGHT * tallest
        and (m >= DIGIT_MASS * heaviest or (m >= KEEP_FRACTION * heaviest and _row_tall(p, tallest)))
    ]


def _row_tall(piece: Piece, tallest: int) -> bool:
    """As tall as the row's digits, give or take: a ruled line across the page is far taller."""
    return ROW_TALL * tallest <= piece.height <= tallest / ROW_TALL


@dataclass(frozen=True)
class Slot:
    """A stretch of a row: its pieces as the rules cut it, and the other reading where there is one."""

    usual: tuple[Piece, ...]
    other: tuple[Piece, ...] = ()


def find_slots(strength: NDArray[np.float32]) -> list[Slot]:
    """The pieces `find_pieces` reads a row as, left to right, each with its other reading: two
    pieces that touch (one cut made them) rejoined, or, in a row of several, a wide piece cut once."""
    pieces = find_pieces(strength, split_wide=True)
    row_height = max((p.height for p in pieces), default=0)
    slots: list[Slot] = []
    index = 0
    while index < len(pieces):
        piece = pieces[index]
        following = pieces[index + 1] if index + 1 < len(pieces) else None
        if following is not None and following.box[0] <= piece.box[2] + 1:
            joined = piece.mask | following.mask
            slots.append(Slot((piece, following), (Piece(_box(joined), joined),)))
            index += 2
            continue
        other: tuple[Piece, ...] = ()
        # A lone piece is a digit with whatever lies beside it (a ruled margin reads as a sure 1).
        if len(pieces) > 1 and piece.width >= OTHER_WIDE * row_height and piece.height >= SPLIT_MIN_HEIGHT:
            margin = max(1, math.ceil(OTHER_MIN_PART * piece.height))
            parts = _cut(piece, strength, margin, piece.width - margin)
            other = tuple(parts) if len(parts) == 2 else ()
        slots.append(Slot((piece,), other))
        index += 1
    return slots


def prefers_other(usual: list[float], other: list[float]) -> bool:
    """Whether a slot reads the other way: its pieces' confidences multiplied (0 for a piece refused as
    not a digit) beat the usual reading's."""
    return bool(other) and math.prod(other) > math.prod(usual)
