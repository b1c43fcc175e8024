from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from training.preprocessing import IMAGE_SIZE, REFERENCE, Normalization, normalize, resize_to_input, to_grayscale


def test_reference_constants_are_the_tutorials() -> None:
    assert (REFERENCE.size, REFERENCE.mean, REFERENCE.std) == (28, 0.5, 0.5)
    assert REFERENCE.to_dict() == {"size": 28, "mean": 0.5, "std": 0.5}
    assert Normalization.from_dict(REFERENCE.to_dict()) == REFERENCE


def test_normalize_maps_0_255_to_minus1_plus1() -> None:
    pixels = np.array([[0, 255] * 14] * 28, dtype=np.uint8)
    x = normalize(pixels)
    assert x.shape == (1, 1, IMAGE_SIZE, IMAGE_SIZE)
    assert x.dtype == np.float32
    assert float(x.min()) == -1.0
    assert float(x.max()) == 1.0


def test_normalize_matches_totensor_then_normalize() -> None:
    pixels = np.arange(28 * 28, dtype=np.int64).reshape(28, 28).astype(np.uint8)
    expected = (torch.tensor(pixels, dtype=torch.float32) / 255.0 - 0.5) / 0.5
    assert np.array_equal(normalize(pixels)[0, 0], expected.numpy())  # bit for bit, as in training


def test_normalize_batch_shape_and_type_checks() -> None:
    assert normalize(np.zeros((5, 28, 28), np.uint8)).shape == (5, 1, 28, 28)
    with pytest.raises(TypeError, match="uint8"):
        normalize(np.zeros((28, 28), np.float32))
    with pytest.raises(ValueError, match="expected"):
        normalize(np.zeros((27, 28), np.uint8))


@pytest.mark.parametrize("bad", [{"size": 32, "mean": 0.5, "std": 0.5}, {"size": 28, "mean": 0.5, "std": 0}])
def test_unsupported_normalization_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="unsupported|invalid"):
        Normalization.from_dict(bad)


def test_grayscale_flattens_alpha_onto_white() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    rgba[0, 0] = (0, 0, 0, 255)  # one opaque black pixel
    gray = to_grayscale(Image.fromarray(rgba))
    assert gray[0, 0] == 0
    assert gray[1, 1] == 255


def test_grayscale_scales_16_bit() -> None:
    wide = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    gray = to_grayscale(Image.fromarray(wide))
    assert gray.tolist() == [[0, 255], [128, 4]]


def test_grayscale_of_rgb_and_palette() -> None:
    rgb = Image.new("RGB", (3, 3), (255, 255, 255))
    assert to_grayscale(rgb).tolist() == [[255] * 3] * 3
    assert to_grayscale(rgb.convert("P")).dtype == np.uint8


def test_resize_leaves_28x28_untouched_and_resizes_others() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    assert resize_to_input(pixels) is pixels
    assert resize_to_input(np.zeros((100, 50), np.uint8)).shape == (28, 28)
