"""Find the ink in a photo, scan or drawing: polarity, background, noise level and a clean ink map.

Works on any grayscale array. Photos are shrunk first (their detail is far beyond what a 28x28 frame
keeps), the paper's tone and uneven lighting are modelled by a robust quadratic surface, and ink is
whatever departs from it by much more than the noise, on whichever side (dark or light) departs most.
Pure numpy and Pillow, vectorised, deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

# Shrinking to this before any analysis keeps a 12-megapixel photo at a few milliseconds; a digit that
# covers a tenth of such a photo is still ~50 px tall here, more than twice what the frame keeps.
WORK_MAX_SIDE = 512
# The lighting model is fitted on a coarse copy: lighting varies slowly, and fewer pixels fit faster.
COARSE_MAX_SIDE = 64
# Shading that the quadratic misses (a shadow, a fold) is broad: whatever survives an opening this
# wide, as a share of the image's shorter side, is a candidate for background. Marker strokes and a
# digit cropped tight are as broad, so a broad region counts as shading only when it is clearly less
# dark than the thin strokes (in log-contrast, see _log_contrast): a shadow dims paper to 35-65%, ink
# is several times darker than its paper.
BROAD_FRACTION = 0.3
SHADING_OF_INK = 0.75
# Beside a hard edge, a window this wide is also tried, and kept where it follows the shading far
# better (see _shadow_broad).
SHADOW_BROAD_FRACTION, LEFTOVER_RATIO = 0.15, 0.5
# Broad levels this many grey levels apart within a few coarse pixels are the two sides of a hard
# shadow's edge (a shadow dims paper by a third or more: 70+ levels), not soft shading (a few levels).
HARD_EDGE = 24.0
# Components are found on a copy max-pooled to at most this side (thin strokes survive max-pooling).
LABEL_MAX_SIDE = 128
# Lit paper left beside a hard shadow can outvote dark strokes as "light ink". Where there is a hard
# edge and the vote says light ink, the dark reading is taken instead when its ink is less than
# BLOB_RATIO as blob-like: the share of its mass that survives an opening BLOB_SIDE of the image wide
# (strokes are thinner than that; lit paper between them is not).
BLOB_SIDE, BLOB_RATIO = 0.1, 0.5
# A hard shadow's edge is a straight step in the lighting. A grey closing (the brightest level around
# each pixel, then the darkest of those) keeps a straight step and slow lighting as they are and fills
# in every dark stroke narrower than its window, so dividing the image by it evens the lighting out and
# leaves the strokes, whatever the quadratic surface made of the step (fitted to one side, it can turn
# the lit side into "light ink" or raise the noise threshold above the digit). Where a hard edge
# crosses the image, or the first analysis found nothing, dark ink is looked for again evenly lit,
# with a window EVEN_WINDOW of the shorter side and with one twice as wide, and the reading is taken
# only when both windows see the same ink (WINDOWS_AGREE of it, down to half the strokes' darkness):
# a marker stroke, a blurry enlarged scan or a digit cropped to its ink is wider than the first window
# and filled in by it, not by the second. A shadow leaves paper a third of its light or more; lighting
# that leaves less than SHADOW_LIGHT_LEFT is a dark background (light ink, a photo's surroundings).
# The lighting is then lowered to the darkest level within EDGE_GRAIN pixels: along a sharp edge the
# closing also fills the pixel staircase of the shadow's side, and divided out, those steps would be a
# thin dark line along the edge (lit paper made lighter than its level is clipped, and no ink).
EVEN_WINDOW, WINDOWS_AGREE, SHADOW_LIGHT_LEFT, EDGE_GRAIN = 0.15, 0.9, 0.25, 5
MIN_SIGMA = 1.0  # 8-bit quantisation alone leaves about this much noise
SIGMA_SAMPLE = 65536  # pixels used to measure the noise
DETECT_SIGMAS = 5.0  # Gaussian noise essentially never reaches 5 sigma; ink does
MIN_CONTRAST = 10.0  # levels; fainter marks are invisible to a person as well
PEAK_OVER_THRESHOLD = 2.0  # typical ink must clear the detection threshold by this factor...
# ...unless it is one-sided: noise, texture and JPEG blocks clear the threshold about as often
# lighter as darker than the paper (photos of blank paper: at most 1.5 times), light pencil clears
# it thousands of times more often on its own side.
ONE_SIDED = 4.0
ONE_SIDED_EVIDENCE = 25  # pixels: a handful of noise pixels on one side proves nothing
# Lined and squared paper: a thin band of rows (columns) that are ink over RULE_COVER of their length
# is a ruled line (or a notebook's margin line); a band wider than RULE_WIDTH of the page is a stroke,
# unless the crop is so close that the ruling itself is that wide: then it repeats, bands up to
# RULED_CLOSE_UP times RULE_WIDTH and within RULE_ALIKE of each other's width, not all of them at the
# crop's edges (RULE_EDGE of its height), where a tight crop puts a digit's own bars (a Z-shaped 2's top
# and base).
RULE_COVER, MIN_RULES, RULE_WIDTH = 0.75, 1, 0.04
RULED_CLOSE_UP, RULE_ALIKE, RULE_EDGE = 2.0, 0.25, 0.1
MARGIN_OF_RULES = 2.0  # a margin line is printed at most this many times as wide as the rules
PRINTED_SPAN = 0.95  # ...which run across this share of the page (a digit's bar in a tight crop does not)
KEEP_FRACTION = 0.1  # components with less ink than this share of the largest one are specks
MIN_DIGIT_SIDE = 3  # px at working size; and at least DIGIT_SIDE_FRACTION of the image's long side
DIGIT_SIDE_FRACTION = 0.015
# Ink below INK_LOW of the typical stroke level is dropped, above INK_HIGH it is full ink: blurred
# photo strokes get MNIST's solid core back and faint smudges and JPEG ringing vanish. (Tuned on the
# dev split: at 0.35 / 0.7 the lighter parts of blurry enlarged scans broke off their strokes.)
INK_LOW, INK_HIGH = 0.2, 0.6


@dataclass(frozen=True)
class Ink:
    """Ink found in an image: a [0, 1] map at working size, or why there is none."""

    strength: NDArray[np.float32]  # 0 = background, 1 = full ink, at working size
    dark_on_light: bool
    blank_reason: str | None  # set when nothing digit-like was found; strength is then all zero


def shrink(gray: NDArray[np.uint8], max_side: int = WORK_MAX_SIDE) -> NDArray[np.float32]:
    """Box-downscale by an integer factor so the long side is at most max_side, as float32."""
    factor = math.ceil(max(gray.shape) / max_side)
    if factor <= 1:
        return gray.astype(np.float32)
    return np.asarray(Image.fromarray(gray).reduce(factor), dtype=np.float32)


def _robust_sigma(values: NDArray[np.float32]) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _paper_sigma(residual: NDArray[np.float32]) -> float:
    """Noise of the paper alone: the spread on whichever side of zero holds no ink.

    The residual is centred on the paper, and ink only ever departs from it on one side, so the side
    with the smaller spread is paper and noise. A spread over both sides would grow with the amount of
    ink: a tight crop or a blurry enlarged scan, mostly ink, would raise the threshold above its own
    strokes and be called blank.
    """
    values = residual.ravel()
    values = values[:: max(1, values.size // SIGMA_SAMPLE)]  # a regular subsample estimates it as well
    spreads = []
    for side in (values[values >= 0], -values[values <= 0]):  # exact paper counts on both
        if side.size >= 0.05 * residual.size:
            spreads.append(1.4826 * float(np.median(side)))
    return max(min(spreads, default=_robust_sigma(values)), MIN_SIGMA)


def _quadratic_basis(height: int, width: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    y = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    return y, x


def _surface(coef: NDArray[np.float64], height: int, width: int) -> NDArray[np.float32]:
    y, x = _quadratic_basis(height, width)
    c = coef.astype(np.float32)
    surface = c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y
    return np.asarray(surface, dtype=np.float32)


def _fit_from(
    design: NDArray[np.float32], values: NDArray[np.float32], start: float, sigma: float
) -> NDArray[np.float64] | None:
    """Iteratively reweighted quadratic fit: pixels within 3 sigma of the current surface are paper."""
    fitted = np.full_like(values, start)
    coef: NDArray[np.float64] | None = None
    for _ in range(4):
        keep = np.abs(values - fitted) < 3.0 * sigma + 2.0
        if keep.sum() < 6:
            break
        # Normal equations on a 6x6 system: far cheaper than an SVD-based lstsq, and well conditioned
        # because the coordinates span [-1, 1]; the tiny ridge only guards degenerate masks.
        chosen = design[keep].astype(np.float64)
        gram = chosen.T @ chosen + 1e-6 * np.eye(6)
        coef = np.linalg.solve(gram, chosen.T @ values[keep].astype(np.float64))
        fitted = (design @ coef.astype(np.float32)).astype(np.float32)
        sigma = max(_robust_sigma((values - fitted)[keep]), MIN_SIGMA)
    return coef


def fit_background(work: NDArray[np.float32]) -> NDArray[np.float32]:
    """Paper tone and lighting as a quadratic surface fitted to the pixels that are not ink."""
    coarse = shrink(np.clip(work, 0, 255).astype(np.uint8), COARSE_MAX_SIDE)
    height, width = coarse.shape
    y, x = _quadratic_basis(height, width)
    ones = np.ones_like(coarse)
    design = np.stack([ones, x * ones, y * ones, x * x * ones, x * y * ones, y * y * ones], -1).reshape(-1, 6)
    values = coarse.ravel()
    # Start from the border, which is paper in almost every upload even when strokes cover most pixels.
    border = np.concatenate([coarse[0], coarse[-1], coarse[:, 0], coarse[:, -1]])
    start = float(np.median(border))
    # Two first windows: the border's spread (wide enough for uneven lighting) and the pixel noise
    # (from neighbour differences; narrow enough to stay on one side of a hard shadow, where the
    # wide one would fit the shadow's edge). The fit that leaves the paper least noisy wins.
    steps = np.concatenate([np.diff(coarse, axis=0).ravel(), np.diff(coarse, axis=1).ravel()])
    best, best_sigma = None, math.inf
    for sigma in (max(_robust_sigma(border), MIN_SIGMA), max(_robust_sigma(steps) / math.sqrt(2), MIN_SIGMA)):
        coef = _fit_from(design, values, start, sigma)
        if coef is not None:
            spread = _paper_sigma(values - design @ coef.astype(np.float32))
            if spread < best_sigma:
                best, best_sigma = coef, spread
    if best is None:
        return np.full_like(work, start)
    # Fitted to one side of a hard shadow, the surface can run far outside the levels on the page.
    return np.clip(_surface(best, *work.shape), float(values.min()), float(values.max()))


def resize_float(
    a: NDArray[np.float32],
    size: tuple[int, int],
    resample: Image.Resampling = Image.Resampling.BILINEAR,
    box: tuple[float, float, float, float] | None = None,
) -> NDArray[np.float32]:
    """Resize a float map (optionally only the `box` region of it) through Pillow's float mode."""
    image = Image.fromarray(a.astype(np.float32))
    return np.asarray(image.resize(size, resample, box=box), dtype=np.float32)


def _running(a: NDArray[np.float32], k: int, axis: int, pick: Any) -> NDArray[np.float32]:
    """PICK (np.minimum or np.maximum) over a window of k pixels along AXIS, edges padded.

    Windows of 1, 2, 4... pixels are built by pairing, and a window of k is two overlapping ones:
    log2(k) passes over the image instead of k, so a window a third of a 512 px image is cheap.
    """
    if k <= 1:
        return a
    pad = [(0, 0), (0, 0)]
    pad[axis] = (k // 2, k - 1 - k // 2)
    extreme = np.pad(a, pad, mode="edge")
    size, span = a.shape[axis], 1

    def part(start: int, stop: int) -> NDArray[np.float32]:
        return extreme[(slice(start, stop), slice(None)) if axis == 0 else (slice(None), slice(start, stop))]

    while 2 * span <= k:
        length = extreme.shape[axis] - span
        extreme = pick(part(0, length), part(span, span + length))
        span *= 2
    return np.asarray(pick(part(0, size), part(k - span, k - span + size)), dtype=np.float32)


def _morph(a: NDArray[np.float32], k: int, first: Any, then: Any) -> NDArray[np.float32]:
    """FIRST over every k x k square, then THEN: np.minimum, np.maximum is a grey opening (what is
    left of light features at least k wide), np.maximum, np.minimum a closing (of dark ones)."""
    for pick in (first, then):
        for axis in (0, 1):
            a = _running(a, k, axis, pick)
    return a


def _open(a: NDArray[np.float32], k: int) -> NDArray[np.float32]:
    """Grey opening by a k x k square: what is left of features at least k pixels wide."""
    return _morph(a, k, np.minimum, np.maximum)


def _coarse(residual: NDArray[np.float32]) -> NDArray[np.float32]:
    """A copy at most COARSE_MAX_SIDE on a side."""
    height, width = residual.shape
    scale = min(1.0, COARSE_MAX_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return resize_float(residual, size, Image.Resampling.BOX)


def _broad_of(coarse: NDArray[np.float32], fraction: float = BROAD_FRACTION) -> NDArray[np.float32]:
    """The light and dark regions of COARSE at least FRACTION of its shorter side wide."""
    k = max(3, round(fraction * min(coarse.shape)))
    return _open(np.maximum(coarse, 0), k) - _open(np.maximum(-coarse, 0), k)


def _shadow_broad(coarse: NDArray[np.float32], broad: NDArray[np.float32]) -> NDArray[np.float32]:
    """BROAD, or a narrower opening's map where that follows a hard shadow far more closely.

    A window BROAD_FRACTION wide cannot reach into the corners of a shadow's wedge: the wedges left
    behind along its edge then count as the paper's noise, and the threshold rises above the digit.
    A narrower window also opens into thick ink, so it is taken only where it leaves the paper at
    most LEFTOVER_RATIO as uneven (on the coarse copy, where pixel noise has averaged out): a shadow
    it follows, ink it does not smooth much.
    """
    narrower = _broad_of(coarse, SHADOW_BROAD_FRACTION)
    if _paper_sigma(coarse - narrower) < LEFTOVER_RATIO * _paper_sigma(coarse - broad):
        return narrower
    return broad


def broad_part(residual: NDArray[np.float32], broad: NDArray[np.float32], hard_edge: bool) -> NDArray[np.float32]:
    """The light or dark regions of a residual too broad to be thin strokes (shadows, glare, marker),
    at full size, from BROAD, their map on the coarse copy; HARD_EDGE: `_hard_edge_in(broad)`."""
    height, width = residual.shape
    if broad.shape == residual.shape:
        return broad  # a small image: the map is at full size already, edges as sharp as they are
    # Enlarged smoothly, a hard shadow's sharp edge would come out as a ramp, and the step minus the
    # ramp is a thin band along the edge that reads as a stroke. Each pixel instead takes whichever is
    # nearest its own value of the smooth level and the lowest and highest broad levels around it: a
    # pixel on the shadow's side of the edge gets the shadow's level, one on the lit side the paper's,
    # and paper under smooth shading (or noise on it) the smooth level, as before.
    smooth_level = resize_float(broad, (width, height))
    # The enlargement blends neighbouring pixels with non-negative weights, so it never spreads the
    # levels further apart than they are here: with no hard edge anywhere (most uploads) the smooth
    # enlargement is the answer, without enlarging and comparing three maps at full size.
    if not hard_edge:
        return smooth_level
    low, high = _neighbourhood(broad, np.min), _neighbourhood(broad, np.max)
    lowest, highest = resize_float(low, (width, height)), resize_float(high, (width, height))
    levels = np.stack([smooth_level, lowest, highest])
    nearest = np.abs(levels - residual[None]).argmin(axis=0)
    snapped = np.take_along_axis(levels, nearest[None], axis=0)[0]
    # Only across a hard edge: under soft shading the levels around a pixel differ by a few grey
    # levels, and snapping to them would only move the paper's noise about.
    return np.where(highest - lowest > HARD_EDGE, snapped, smooth_level)


def _hard_edge_in(broad: NDArray[np.float32]) -> bool:
    """Whether two neighbouring levels of a coarse broad map differ by HARD_EDGE (a hard shadow's edge)."""
    return float((_neighbourhood(broad, np.max) - _neighbourhood(broad, np.min)).max()) >= HARD_EDGE - 1e-3


def _neighbourhood(a: NDArray[np.float32], pick: Any) -> NDArray[np.float32]:
    """PICK (np.min or np.max) over each pixel's 3x3 neighbourhood: the levels a bilinear enlargement
    of A blends at any point between its pixels."""
    padded = np.pad(a, 1, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3))
    return np.asarray(pick(windows, axis=(-2, -1)), dtype=np.float32)


def _log_contrast(paper: NDArray[np.float32], mark: NDArray[np.float32], dark: bool) -> NDArray[np.float32]:
    """How many times darker (or lighter) a mark is than the paper under it, as a natural log.

    Lighting multiplies paper and ink alike, so this ratio is the same in a shadow as in full light;
    a shadow only dims the paper by a fraction, while ink is several times darker than its paper.
    """
    paper, mark = np.maximum(paper, 1.0), np.maximum(mark, 1.0)
    if not dark:  # light ink: measured against the headroom left above a dark background
        paper, mark = np.maximum(256.0 - paper, 1.0), np.maximum(256.0 - mark, 1.0)
    return np.asarray(np.log(paper / mark), dtype=np.float32)


def smooth(a: NDArray[np.float32]) -> NDArray[np.float32]:
    """Separable [1, 2, 1] / 4 blur with edge padding."""
    p = np.pad(a, 1, mode="edge")
    rows = (p[:-2] + 2 * p[1:-1] + p[2:]) / 4
    return ((rows[:, :-2] + 2 * rows[:, 1:-1] + rows[:, 2:]) / 4).astype(np.float32)


def max_pool(a: NDArray[np.float32], k: int) -> NDArray[np.float32]:
    if k <= 1:
        return a
    h, w = a.shape
    padded = np.pad(a, ((0, -h % k), (0, -w % k)))
    blocks = padded.reshape(padded.shape[0] // k, k, padded.shape[1] // k, k)
    return np.asarray(blocks.max(axis=(1, 3)), dtype=np.float32)


def label_components(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """8-connected component labels; each pixel gets its component's smallest flat index, background -1.

    Min-label propagation with pointer jumping: a label is the index of a pixel in the same component,
    so looking that pixel's own label up can only lower it, and labels settle in a few dozen passes.
    """
    h, w = mask.shape
    none = h * w
    labels = np.where(mask, np.arange(none).reshape(h, w), none)
    padded = np.full((h + 2, w + 2), none)
    for _ in range(h * w):
        padded[1:-1, 1:-1] = labels
        lowest = labels
        for dy in range(3):
            for dx in range(3):
                lowest = np.minimum(lowest, padded[dy : dy + h, dx : dx + w])
        table = np.append(lowest.ravel(), none)
        for _ in range(3):
            lowest = table[lowest]
        lowest = np.where(mask, lowest, none)
        if np.array_equal(lowest, labels):
            break
        labels = lowest
    return np.where(mask, labels, -1)


def _keep_main_components(strength: NDArray[np.float32]) -> tuple[NDArray[np.float32], int]:
    """Drop specks; return the cleaned map and the long side (working px) of the largest component."""
    k = math.ceil(max(strength.shape) / LABEL_MAX_SIDE)
    pooled = max_pool(strength, k)
    labels = label_components(pooled > 0)
    flat = labels.ravel()
    inside = flat >= 0
    mass = np.bincount(flat[inside], weights=pooled.ravel()[inside], minlength=labels.size)
    keep = mass >= KEEP_FRACTION * mass.max()
    main = int(mass.argmax())
    rows, cols = np.nonzero(labels == main)
    side = (max(rows.max() - rows.min(), cols.max() - cols.min()) + 1) * k
    kept = np.where(labels >= 0, keep[np.maximum(labels, 0)], False)
    full = np.repeat(np.repeat(kept, k, axis=0), k, axis=1)[: strength.shape[0], : strength.shape[1]]
    return np.where(full, strength, 0).astype(np.float32), int(side)


def _broad_ink(
    background: NDArray[np.float32],
    broad: NDArray[np.float32],
    thin: NDArray[np.float32],
    threshold: float,
    dark: bool,
) -> NDArray[np.float32]:
    """Where a broad region on the ink's side is ink (1) rather than shading (0)."""
    local_paper = background + broad
    strokes = (-thin if dark else thin) > threshold
    # Measured on the whole mark where the broad level itself clears the noise: inside a filled marker
    # loop the broad level is only part of the ink's darkness (the rest is left in the thin part),
    # while shadowed paper is no darker than its broad level. (Elsewhere the whole mark is the paper's
    # noise, whose peaks would pass for ink.)
    clear = (-broad if dark else broad) > threshold
    broad_contrast = _log_contrast(background, np.where(clear, local_paper + thin, local_paper), dark)
    if not strokes.any():
        return np.ones_like(broad)  # nothing thin to compare with: every broad mark may be the digit
    stroke_contrast = float(np.percentile(_log_contrast(local_paper, local_paper + thin, dark)[strokes], 90))
    return np.asarray(broad_contrast > SHADING_OF_INK * stroke_contrast, dtype=np.float32)


Band = tuple[int, int]  # [start, stop) rows (or columns) of a ruled line's profile above the threshold


def _bands(ink: NDArray[np.float32], threshold: float, axis: int) -> tuple[NDArray[np.float32], list[Band]]:
    """The ink profile of lines along `axis` (1: rows, 0: columns) and its bands above the threshold.

    A ruled line crosses the whole page, so most of its row is ink: the profile is the level that
    RULE_COVER of each row reaches.
    """
    across = ink[:, ::2] if axis == 1 else ink[::2]  # every other pixel along the line is enough
    level = np.percentile(across, 100 * (1 - RULE_COVER), axis=axis).astype(np.float32)
    lines = np.concatenate([[False], level > threshold, [False]])
    edges = np.flatnonzero(lines[1:] != lines[:-1])
    return level, list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def _ruled(bands: list[Band], size: int) -> list[Band]:
    """The bands of a profile SIZE long that are ruled lines.

    A ruled line is thin: a few rows out of the page's height. A digit's stroke rarely covers
    RULE_COVER of a row, and where it does (a 7's bar in a tight crop) it is usually a band thicker
    than RULE_WIDTH.
    """
    thin = [(a, b) for a, b in bands if b - a <= RULE_WIDTH * size + 1]
    close_up = [(a, b) for a, b in bands if b - a <= RULED_CLOSE_UP * RULE_WIDTH * size + 1]
    widths = [b - a for a, b in close_up]
    if len(close_up) >= 2 and max(widths) <= (1 + RULE_ALIKE) * min(widths) and _not_all_at_edges(close_up, size):
        thin = close_up
    return thin if len(thin) >= MIN_RULES else []


def _not_all_at_edges(bands: list[Band], size: int) -> bool:
    """Whether one of BANDS lies inside a profile SIZE long, clear of the RULE_EDGE at either end, where a
    tight crop puts a digit's own bars (a Z-shaped 2's top and base)."""
    edge = RULE_EDGE * size
    return any(a > edge and b < size - edge for a, b in bands)


def _printed_alike(bands: list[Band], rules: list[Band], size: int) -> list[Band]:
    """The BANDS no wider than MARGIN_OF_RULES times the widest of RULES, found across them.

    A ruled page's margin line is printed like its rules, but RULE_WIDTH is a share of the side
    across the lines, and a portrait page's width is far less than its height: its margin line
    would be judged a stroke. Beside rules found one way, a band as thin the other way is ruling too;
    but only beside a ruling that repeats and crosses the page inside its edges (SIZE: the length of
    their profile): a tight crop puts a digit's own bars at its edges.
    """
    if len(rules) < 2 or not _not_all_at_edges(rules, size):
        return []
    widest = max(b - a for a, b in rules)
    return [(a, b) for a, b in bands if b - a <= MARGIN_OF_RULES * widest]


def _spans_page(band: NDArray[np.float32], threshold: float) -> bool:
    """Whether a band of rows (a ruled line's) is ink along PRINTED_SPAN of the page's width: a printed
    rule runs from edge to edge, a digit's bar that fills most of a tight crop's row does not."""
    return float(np.percentile(band.max(axis=0), 100 * (1 - PRINTED_SPAN))) > threshold


def _profile(level: NDArray[np.float32], rules: list[Band]) -> NDArray[np.float32]:
    profile = np.zeros_like(level)
    for a, b in rules:
        # With the blurred shoulders on either side, which fall below the threshold but not to 0.
        wide = slice(max(0, a - (b - a)), b + (b - a))
        profile[wide] = np.maximum(level[wide], 0)
    return profile


def _without_rules(ink: NDArray[np.float32], threshold: float) -> NDArray[np.float32]:
    """INK with the ruled lines of lined or squared paper, and a margin line, taken away."""
    row_level, row_bands = _bands(ink, threshold, 1)
    column_level, column_bands = _bands(ink, threshold, 0)
    row_rules, column_rules = _ruled(row_bands, row_level.size), _ruled(column_bands, column_level.size)
    full_rows = [band for band in row_rules if _spans_page(ink[band[0] : band[1]], threshold)]
    full_columns = [band for band in column_rules if _spans_page(ink[:, band[0] : band[1]].T, threshold)]
    row_rules = sorted(set(row_rules) | set(_printed_alike(row_bands, full_columns, column_level.size)))
    column_rules = sorted(set(column_rules) | set(_printed_alike(column_bands, full_rows, row_level.size)))
    return ink - _profile(row_level, row_rules)[:, None] - _profile(column_level, column_rules)[None, :]


def find_ink(gray: NDArray[np.uint8]) -> Ink:
    """Locate the ink: polarity, lighting removed, noise thresholded away, specks dropped."""
    work = shrink(gray)
    empty = np.zeros_like(work)
    if float(work.max() - work.min()) < 1.0:
        return Ink(empty, bool(work.mean() >= 128), "the image is one flat colour: there is no digit on it")
    if min(work.shape) >= 64:
        work = smooth(work)  # halves pixel noise; strokes this large survive it
    residual = _residual(work, fit_background(work))
    # Only where a shadow can fall: in an image no larger than the coarse map, strokes are broad too.
    shadow_room = max(work.shape) > COARSE_MAX_SIDE
    beside_hard_edge = shadow_room and residual.hard_edge
    evened = _dark_ink_evenly_lit(work) if beside_hard_edge else None
    if evened is not None:
        return evened
    found = _ink_of(residual, residual.votes_dark, work.shape)
    if shadow_room and not residual.hard_edge and found.blank_reason is not None:
        evened = _dark_ink_evenly_lit(work)  # where the first analysis found nothing, a shadow may hide it
        if evened is not None:
            return evened
    if not found.dark_on_light and beside_hard_edge:
        dark = _ink_of(residual, True, work.shape)
        if dark.blank_reason is None and (
            found.blank_reason is not None or _blobness(dark.strength) < BLOB_RATIO * _blobness(found.strength)
        ):
            found = dark
    if found.blank_reason is not None and max(work.shape) <= COARSE_MAX_SIDE:
        # A small crop that the digit fills edge to edge leaves too little paper for the surface to
        # fit, and the fit follows the strokes instead. Paper is still the commonest level in it,
        # and so small an image has no room for lighting to vary: try a flat sheet at that level.
        flat = _ink_over(work, np.full_like(work, _commonest_level(work)))
        if flat.blank_reason is None:
            return flat
    return found


def _evenly_lit(work: NDArray[np.float32], k: int) -> NDArray[np.float32] | None:
    """WORK divided by its lighting (a closing k pixels wide), at the level of its lit paper; None
    where that lighting would leave less than SHADOW_LIGHT_LEFT of the light in places."""
    lighting = _morph(work, k, np.maximum, np.minimum)
    for axis in (0, 1):
        lighting = _running(lighting, EDGE_GRAIN, axis, np.minimum)
    dimmest, paper = (float(v) for v in np.percentile(lighting, [5, 95]))
    if dimmest < SHADOW_LIGHT_LEFT * paper:
        return None
    return np.clip(work * (paper / np.maximum(lighting, 1.0)), 0, 255).astype(np.float32)


def _dark_ink_evenly_lit(work: NDArray[np.float32]) -> Ink | None:
    """The dark ink of WORK evenly lit, or None: where the lighting is a dark background rather than a
    shadow, no dark ink is found, or the two windows disagree."""
    k = max(3, round(EVEN_WINDOW * min(work.shape)))
    narrow = _evenly_lit(work, k)
    if narrow is None:
        return None
    ink = _ink_over(narrow, fit_background(narrow))
    if ink.blank_reason is not None or not ink.dark_on_light:
        return None
    wide = _evenly_lit(work, 2 * k)
    if wide is None:
        return None
    # Both windows' ink, down to half the darkness (below the lit paper) of the strokes found.
    strokes = ink.strength > 0.5
    if not strokes.any():
        return None
    paper = float(np.percentile(narrow, 95))
    cut = 0.5 * float(np.median(paper - narrow[strokes]))
    in_narrow, in_wide = paper - narrow > cut, paper - wide > cut
    if np.count_nonzero(in_narrow & in_wide) < WINDOWS_AGREE * np.count_nonzero(in_narrow | in_wide):
        return None
    return ink


def _blobness(strength: NDArray[np.float32]) -> float:
    """The share of the ink that survives an opening BLOB_SIDE of the image wide (inf: no ink)."""
    pooled = max_pool(strength, math.ceil(max(strength.shape) / COARSE_MAX_SIDE))  # strokes survive pooling
    total = float(pooled.sum())
    if total <= 0:
        return math.inf
    k = max(3, round(BLOB_SIDE * min(pooled.shape)))
    return float(_open(pooled, k).sum()) / total


def _commonest_level(work: NDArray[np.float32]) -> float:
    """The median of the most crowded of 32 equal bins of grey levels."""
    counts, edges = np.histogram(work, bins=32, range=(0.0, 256.0))
    peak = int(counts.argmax())
    return float(np.median(work[(work >= edges[peak]) & (work < edges[peak + 1])]))


@dataclass(frozen=True)
class _Residual:
    """What is left of an image once paper tone and lighting are taken away, before polarity."""

    background: NDArray[np.float32]
    broad: NDArray[np.float32]  # regions too broad to be thin strokes
    thin: NDArray[np.float32]
    threshold: float  # the detection threshold, from the paper's noise
    votes_dark: bool  # the polarity the thin marks vote for
    hard_edge: bool  # a hard shadow's edge crosses the image


def _residual(work: NDArray[np.float32], background: NDArray[np.float32]) -> _Residual:
    residual = work - background
    coarse = _coarse(residual)
    coarse_broad = _broad_of(coarse)
    hard_edge = _hard_edge_in(coarse_broad)
    if hard_edge and coarse.shape != residual.shape:
        coarse_broad = _shadow_broad(coarse, coarse_broad)
    broad = broad_part(residual, coarse_broad, hard_edge)
    thin = residual - broad
    if min(work.shape) >= 64:
        thin = smooth(thin)  # a second pass: light pencil's grain averages out, its strokes stay
    sigma = _paper_sigma(thin)
    threshold = max(DETECT_SIGMAS * sigma, MIN_CONTRAST)
    # Polarity is voted away from broad light regions: when the paper fit lands on the shadowed side
    # of a hard shadow, the lit paper's ragged edge would otherwise outvote the digit as "light ink".
    away = broad < threshold
    light = float(np.clip(thin - threshold, 0, None)[away].sum())
    dark = float(np.clip(-thin - threshold, 0, None)[away].sum())
    votes_dark = dark > light if dark != light else bool(np.median(work) >= 128)
    return _Residual(background, broad, thin, threshold, votes_dark, hard_edge)


def _ink_over(work: NDArray[np.float32], background: NDArray[np.float32]) -> Ink:
    """The ink on WORK once BACKGROUND (paper tone and lighting) is taken away."""
    found = _residual(work, background)
    return _ink_of(found, found.votes_dark, work.shape)


def _ink_of(found: _Residual, dark_on_light: bool, shape: tuple[int, ...]) -> Ink:
    """The ink of one polarity: thresholded, scaled to 0-1, specks dropped; blank when none is clear."""
    empty = np.zeros_like(found.thin)
    thin, broad, threshold = found.thin, found.broad, found.threshold
    sign = -1.0 if dark_on_light else 1.0
    ink = sign * thin + np.maximum(sign * broad, 0) * _broad_ink(
        found.background, broad, thin, threshold, dark_on_light
    )
    ink = _without_rules(ink, threshold)
    strong = ink[ink > threshold]
    if strong.size == 0:
        return Ink(empty, dark_on_light, "no strokes stand out from the background: the image looks blank")
    peak = float(np.percentile(strong, 90))
    opposite = int(np.count_nonzero(-ink > threshold))
    one_sided = strong.size >= ONE_SIDED * (opposite + ONE_SIDED_EVIDENCE)
    if peak < PEAK_OVER_THRESHOLD * threshold and not one_sided:
        # Noise and JPEG blocks only just clear the threshold; pen strokes clear it by far.
        return Ink(empty, dark_on_light, "only faint marks, no clear strokes: the image looks blank")
    low = max(0.8 * threshold, INK_LOW * peak)
    high = max(INK_HIGH * peak, low + 1.0)
    strength = np.clip((ink - low) / (high - low), 0, 1).astype(np.float32)
    strength, side = _keep_main_components(strength)
    if side < max(MIN_DIGIT_SIDE, DIGIT_SIDE_FRACTION * max(shape)):
        return Ink(empty, dark_on_light, "only specks of ink, nothing digit-sized: the image looks blank")
    return Ink(strength, dark_on_light, None)
