"""The one place where pixels become model input, shared by training and serving.

Training feeds the network `normalize(uint8 pixels)`; serving turns an uploaded image into the
same kind of uint8 28x28 array and calls the same function, so equal pixels give equal tensors,
bit for bit. `prepare_pixels` is how serving makes that array from an upload: the plain resize for
MNIST-style images, or framing (training.ink, training.framing) for photos, scans and drawings.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from training.framing import frame_ink
from training.ink import WORK_MAX_SIDE, find_ink
from training.segment import Piece, find_pieces, find_slots, may_hold_several, prefers_other

IMAGE_SIZE = 28


@dataclass(frozen=True)
class Normalization:
    """Input size and the affine map applied to [0, 1] pixel values."""

    size: int = IMAGE_SIZE
    mean: float = 0.5
    std: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalization:
        """Rebuild from model metadata, refusing constants this code cannot honour."""
        size, mean, std = data["size"], data["mean"], data["std"]
        if size != IMAGE_SIZE:
            raise ValueError(f"unsupported input size {size!r}; this code handles {IMAGE_SIZE}")
        if not isinstance(std, int | float) or std <= 0 or not isinstance(mean, int | float):
            raise ValueError(f"invalid normalisation mean={mean!r} std={std!r}")
        return cls(size=int(size), mean=float(mean), std=float(std))


# The tutorial's constants: ToTensor() scales to [0, 1], Normalize((0.5,), (0.5,)) maps to [-1, 1].
REFERENCE = Normalization()


def normalize(pixels: NDArray[np.uint8], norm: Normalization = REFERENCE) -> NDArray[np.float32]:
    """Map uint8 images of shape (28, 28) or (N, 28, 28) to float32 input of shape (N, 1, 28, 28)."""
    if pixels.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.ndim != 3 or pixels.shape[1:] != (norm.size, norm.size):
        raise ValueError(f"expected (N, {norm.size}, {norm.size}) pixels, got {pixels.shape}")
    return _lookup_table(norm)[pixels[:, None]]


@functools.cache
def _lookup_table(norm: Normalization) -> NDArray[np.float32]:
    """The normalised value of each of the 256 pixel levels.

    Computed with ToTensor + Normalize's float32 operations in their order (divide, subtract,
    divide; each correctly rounded in float32, as torch does them), so indexing it gives exactly
    their result, at the cost of one gather instead of three passes over the batch.
    """
    levels = np.arange(256, dtype=np.float32)
    return (levels / np.float32(255.0) - np.float32(norm.mean)) / np.float32(norm.std)


def to_grayscale(image: Image.Image) -> NDArray[np.uint8]:
    """Any Pillow image as 8-bit grayscale; transparency is flattened onto white paper."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit/32-bit integer images: Pillow's convert("L") clips instead of scaling.
        wide = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or wide.max() > 255 else 255.0
        return np.clip(wide * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        top = 1.0 if values.max() <= 1.0 else 255.0
        return np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.uint8)


def resize_to_input(gray: NDArray[np.uint8], size: int = IMAGE_SIZE) -> NDArray[np.uint8]:
    """Resize a grayscale array to size x size; an array already that size is returned as is."""
    if gray.shape == (size, size):
        return gray
    resized = Image.fromarray(gray).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


PreprocessMode = Literal["auto", "mnist", "raw"]
PREPROCESS_MODES: tuple[PreprocessMode, ...] = get_args(PreprocessMode)
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_REDUCIBLE_MODES = ("L", "LA", "RGB", "RGBA")


@dataclass(frozen=True)
class PreparedInput:
    """What the model will see for one image (pass `pixels` to `normalize`), and how it was made.

    `blank` says the image holds no digit (an empty canvas, a plain photo of paper); `reason` then says
    why in words a client can be shown, and `pixels` is an empty frame (or the raw resize) that is
    safe to run but means nothing.
    """

    pixels: NDArray[np.uint8]  # (28, 28), light ink on black like MNIST
    framed: bool  # whether the framing step (polarity, crop, 20x20 fit, centring) produced pixels
    blank: bool
    reason: str | None
    digits_seen: int = 1  # digit-sized pieces of ink with a gap between them (not looked for in `raw`)
    slots: tuple[PreparedSlot, ...] = ()  # with segment=True: the digit-sized pieces framed, left to right

    @property
    def pieces(self) -> tuple[PreparedPiece, ...]:
        """The pieces as the segmentation rules cut the image, before the model has a say."""
        return tuple(piece for slot in self.slots for piece in slot.usual)

    @property
    def candidates(self) -> tuple[PreparedPiece, ...]:
        """Every framed piece, slot by slot, the usual reading's then the other's: what the model reads."""
        return tuple(piece for slot in self.slots for piece in (*slot.usual, *slot.other))

    def choose_pieces(self, confidences: Sequence[float]) -> list[int]:
        """Indices into `candidates` of the pieces that make the number, left to right.

        CONFIDENCES are the model's, one per candidate (0 where it answered "not a digit"); each slot
        takes the reading they favour (training.segment.prefers_other).
        """
        chosen: list[int] = []
        start = 0
        for slot in self.slots:
            usual = range(start, start + len(slot.usual))
            other = range(usual.stop, usual.stop + len(slot.other))
            pick = other if prefers_other([confidences[k] for k in usual], [confidences[k] for k in other]) else usual
            chosen.extend(pick)
            start = other.stop
        return chosen


@dataclass(frozen=True)
class PreparedPiece:
    """One digit of several, framed on its own like MNIST."""

    pixels: NDArray[np.uint8]
    box: tuple[int, int, int, int]  # left, top, right, bottom in the uploaded image's pixels


@dataclass(frozen=True)
class PreparedSlot:
    """A stretch of a number: its pieces as the rules cut it and, where they may be wrong, the other way."""

    usual: tuple[PreparedPiece, ...]
    other: tuple[PreparedPiece, ...] = ()


def _ink_layer(image: Image.Image, gray: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The alpha channel, when strokes live only there (light strokes on a transparent canvas)."""
    if image.mode not in _ALPHA_MODES or int(gray.max()) - int(gray.min()) > 0:
        return gray
    alpha = np.asarray(image.getchannel("A"), dtype=np.uint8)
    return alpha if int(alpha.max()) - int(alpha.min()) > 0 else gray


def _shrink_early(image: Image.Image) -> Image.Image:
    """Box-reduce a huge photo before the grayscale conversion, the costliest step at 12 megapixels."""
    factor = max(image.size) // WORK_MAX_SIDE
    return image.reduce(factor) if factor >= 2 and image.mode in _REDUCIBLE_MODES else image


# MNIST frames have a black margin (digits sit in the central 20x20 box) and solid white strokes.
_MARGIN_MAX_LEVEL = 64
_MIN_STROKE_PIXELS = 12


def clearly_mnist_like(gray: NDArray[np.uint8]) -> bool:
    """A cheap yes for the common case of an MNIST-style upload: 28x28, dark margin, bright strokes.

    Such an image is neither dark-on-light nor blank, so the full ink analysis (about 1 ms) would only
    confirm the raw path; anything this test does not accept still gets that analysis.
    """
    if gray.shape != (IMAGE_SIZE, IMAGE_SIZE):
        return False
    margin = max(int(gray[0].max()), int(gray[-1].max()), int(gray[:, 0].max()), int(gray[:, -1].max()))
    return margin <= _MARGIN_MAX_LEVEL and int(np.count_nonzero(gray >= 128)) >= _MIN_STROKE_PIXELS


_PIECE_PEAK = 0.5  # a piece framed alone must hold ink at least this strong somewhere


def _count_digits(strength: NDArray[np.float32]) -> int:
    """Digit-sized pieces with a gap between them; the labelling is skipped when no gap exists."""
    return len(find_pieces(strength)) if may_hold_several(strength) else 1


def _frame_pieces(strength: NDArray[np.float32], size: tuple[int, int]) -> tuple[PreparedSlot, ...]:
    """Each digit-sized piece of an ink map framed alone, both ways where a slot has two readings, its
    box scaled to the upload's size."""
    sx, sy = size[0] / strength.shape[1], size[1] / strength.shape[0]

    def framed(piece: Piece) -> PreparedPiece:
        return PreparedPiece(
            frame_ink(np.where(piece.mask, strength, 0).astype(np.float32)),
            (
                math.floor(piece.box[0] * sx),
                math.floor(piece.box[1] * sy),
                min(size[0], math.ceil(piece.box[2] * sx)),
                min(size[1], math.ceil(piece.box[3] * sy)),
            ),
        )

    def stroked(piece: Piece) -> bool:
        return float(strength[piece.mask].max()) >= _PIECE_PEAK  # frame_ink needs a stroke, not a smudge

    slots = []
    for slot in find_slots(strength):
        usual = tuple(framed(piece) for piece in slot.usual if stroked(piece))
        other = tuple(framed(piece) for piece in slot.other) if all(map(stroked, slot.other)) else ()
        if usual:
            slots.append(PreparedSlot(usual, other))
    return tuple(slots)


def _with_digits(
    prepared: PreparedInput, strength: NDArray[np.float32], size: tuple[int, int], segment: bool
) -> PreparedInput:
    if prepared.blank:
        return replace(prepared, digits_seen=0)
    slots = _frame_pieces(strength, size) if segment else ()
    return replace(prepared, digits_seen=_count_digits(strength), slots=slots)


def prepare_pixels(image: Image.Image, mode: PreprocessMode = "auto", segment: bool = False) -> PreparedInput:
    """Turn any decoded image into the model's 28x28 uint8 input.

    `raw` is the plain grayscale + resize (right for MNIST-style images only; blank only when the
    image is one flat colour). `mnist` always frames: finds the ink (dark or light), removes paper
    tone and lighting, drops noise and specks, crops, fits the digit into 20x20 keeping its aspect,
    evens its stroke width and centres its mass in 28x28. `auto` leaves a 28x28 light-on-dark image
    exactly as `raw` does and frames anything else. Deterministic, a few milliseconds per image.

    `digits_seen` counts the digit-sized pieces of ink (training.segment); `segment=True` also frames
    each piece on its own (`slots`, left to right, always framed whatever the mode), for an image that
    holds a number, with a second reading where the cut is in doubt: score every one of `candidates`,
    then `choose_pieces`. The whole-image `pixels` are the same either way.
    """
    if mode not in PREPROCESS_MODES:
        raise ValueError(f"unknown preprocess mode {mode!r}; expected one of {', '.join(PREPROCESS_MODES)}")
    size = image.size
    if mode == "raw":
        gray = to_grayscale(image)
        flat = int(gray.max()) == int(gray.min())
        reason = "the image is one flat colour: there is no digit on it" if flat else None
        prepared = PreparedInput(resize_to_input(gray), framed=False, blank=flat, reason=reason)
        if not segment or flat:
            return prepared
        ink = find_ink(_ink_layer(image, gray))
        return prepared if ink.blank_reason else replace(prepared, slots=_frame_pieces(ink.strength, size))
    image = _shrink_early(image)
    gray = to_grayscale(image)
    if mode == "auto" and image.mode not in _ALPHA_MODES and clearly_mnist_like(gray):
        mnist = PreparedInput(gray, framed=False, blank=False, reason=None)
        return _with_digits(mnist, gray.astype(np.float32) * np.float32(1 / 255), size, segment)
    layer = _ink_layer(image, gray)
    ink = find_ink(layer)
    blank = ink.blank_reason is not None
    if mode == "auto" and layer is gray and gray.shape == (IMAGE_SIZE, IMAGE_SIZE) and not ink.dark_on_light:
        plain = PreparedInput(resize_to_input(gray), framed=False, blank=blank, reason=ink.blank_reason)
        return _with_digits(plain, ink.strength, size, segment)
    pixels = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8) if blank else frame_ink(ink.strength)
    framed = PreparedInput(pixels, framed=True, blank=blank, reason=ink.blank_reason)
    return _with_digits(framed, ink.strength, size, segment)
