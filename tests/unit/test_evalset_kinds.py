"""The issue-9 evaluation kinds and non-digits: deterministic, split cleanly, independent of framing."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA_DIR
from training import evalset
from training.evalset import kinds, nondigits, render

EVALSET_DIR = Path(evalset.__file__).parent
FRAMING_MODULES = {"training.ink", "training.framing", "training.preprocessing"}
needs_mnist = pytest.mark.skipif(not DATA_DIR.is_dir(), reason="MNIST test split not available")


def test_the_generators_share_nothing_with_the_framing_code() -> None:
    """A framing change must not be able to make its own test easier through a shared constant."""
    for path in EVALSET_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not imported & FRAMING_MODULES, path.name


@needs_mnist
@pytest.mark.parametrize("kind", evalset.KINDS)
def test_each_kind_is_deterministic_and_decodes(kind: str) -> None:
    first = evalset.generate(kind, 4, mnist_dir=DATA_DIR)
    again = evalset.generate(kind, 4, mnist_dir=DATA_DIR)
    assert [s.data for s in first] == [s.data for s in again]
    assert all(0 <= s.label <= 9 for s in first)
    for sample in first:
        width, height = sample.image().size
        assert min(width, height) >= 8
        assert max(width, height) <= 1000


def test_dev_and_final_use_distinct_source_digits_and_seeds() -> None:
    for size in (10000, 1797):
        dev, final = evalset._half(size, "dev"), evalset._half(size, "final")
        assert len(dev) + len(final) == size
        assert not set(dev.tolist()) & set(final.tolist())
    dev_scans = evalset.generate("lowres", 5, split="dev")
    final_scans = evalset.generate("lowres", 5, split="final")
    assert [s.data for s in dev_scans] != [s.data for s in final_scans]
    with pytest.raises(ValueError, match="split"):
        evalset.generate("lowres", 1, split="test")


def test_letters_and_symbols_of_the_final_split_are_unseen_in_dev() -> None:
    for chars in (nondigits.LETTERS, nondigits.SYMBOLS):
        assert not set(chars[0::2]) & set(chars[1::2])
    # Nothing a person would read as a digit is in the non-digit set.
    assert not set("OoIlSsZzBbgqGDJ|/") & set(nondigits.LETTERS + nondigits.SYMBOLS)


@pytest.mark.parametrize("subset", evalset.NONDIGIT_SUBSETS)
def test_nondigits_are_labelled_and_round_trip_through_save_and_load(subset: str, tmp_path: Path) -> None:
    samples = evalset.generate(subset, 3, split="final")
    assert all(s.label == evalset.NOT_A_DIGIT for s in samples)
    evalset.save(samples, tmp_path)
    assert sorted(p.name for p in (tmp_path / subset).iterdir()) == [s.name for s in samples]
    assert all(p.stem.endswith("-x") for p in (tmp_path / subset).iterdir())
    loaded = evalset.load(tmp_path)
    assert [(s.label, s.data) for s in loaded] == [(s.label, s.data) for s in samples]


def test_painted_digits_have_the_asked_height_and_pen_and_touch_every_edge(mnist_test_digit: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    coverage = render.paint(mnist_test_digit, rng, 200, 30, tilt=0)
    assert abs(coverage.shape[0] - 200) <= 4
    for edge in (coverage[0], coverage[-1], coverage[:, 0], coverage[:, -1]):
        assert edge.max() > 0.2  # an anti-aliased round edge only partly covers the last row
    # A 30 px pen: the narrowest run of ink across a row is near 30 px wide in the digit's middle.
    row = coverage[coverage.shape[0] // 2] > 0.5
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0])))[::2]
    assert 24 <= runs.min() <= 60


def test_thinning_gives_a_one_pixel_line() -> None:
    bar = np.zeros((20, 40), bool)
    bar[6:14, 4:36] = True
    line = render.thin(bar)
    assert line.any()
    assert line.sum(axis=0).max() == 1  # one pixel tall everywhere along the bar


def test_canvas_kind_includes_transparent_pngs_with_strokes_only_in_alpha() -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    modes = set()
    for seed in range(12):
        data, suffix = kinds.canvas(digit, np.random.default_rng(seed))
        image = evalset.Sample("canvas", 0, 1, data, suffix).image()
        assert image.size == (280, 280)
        modes.add(image.mode)
        if image.mode == "RGBA":
            rgb = np.asarray(image.convert("RGB"))
            assert (rgb == rgb[0, 0]).all()  # one colour everywhere: the strokes exist only in alpha
            assert np.asarray(image.getchannel("A")).max() == 255
    assert modes == {"L", "RGBA"}


@pytest.fixture
def mnist_test_digit() -> np.ndarray:
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 6:22] = 0
    rows, cols = np.ogrid[:28, :28]
    ring = np.abs(np.hypot(rows - 14, (cols - 14) * 1.4) - 8) < 1.5  # an upright 0
    digit[ring] = 255
    return digit
