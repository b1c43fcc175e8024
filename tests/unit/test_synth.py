"""training.synth: renderers, the framed training bank, its cache and the `bank` command."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from tests.conftest import DATA_DIR
from training import cli
from training.evalset import nondigits as eval_nondigits
from training.mnist import MnistSplit, load_split
from training.preprocessing import prepare_pixels
from training.synth import bank as bank_module
from training.synth import letters
from training.synth.bank import NOT_A_DIGIT, build_bank, build_bank_detailed, load_or_build_bank
from training.synth.digits import DIGIT_STYLES, render_digit, render_digit_as
from training.synth.nondigits import GLYPHS, NONDIGIT_STYLES, glyph_fonts, render_nondigit, render_nondigit_as

SYNTH_DIR = Path(bank_module.__file__).parent
# Characters a person could read as a digit: never drawn as a non-digit.
DIGIT_LOOKALIKES = "0123456789OoIl|iSsZzBbgqGDQ∅ØøΘθОоЗзБбЧч"


@pytest.fixture(scope="module")
def train_head() -> MnistSplit:
    return load_split(DATA_DIR, "train").head(40)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def test_no_module_imports_the_evaluation_set() -> None:
    """The renderers must not share code with what they are evaluated on."""
    modules = sorted(SYNTH_DIR.glob("*.py"))
    assert len(modules) >= 6
    for path in modules:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
            assert not [n for n in names if n.startswith("training.evalset")], f"{path.name} imports {names}"
            if isinstance(node, ast.ImportFrom) and node.module == "training":
                assert "evalset" not in {alias.name for alias in node.names}, path.name


def test_glyphs_differ_from_the_evaluation_sets_and_from_digits() -> None:
    assert not set(GLYPHS) & set(eval_nondigits.LETTERS + eval_nondigits.SYMBOLS)
    assert not set(GLYPHS) & set(DIGIT_LOOKALIKES)
    fonts = glyph_fonts()
    assert fonts, "DejaVu fonts are expected under /usr/share/fonts"
    for _, chars in fonts:
        assert set(chars) <= set(GLYPHS)


@pytest.mark.parametrize("style", list(DIGIT_STYLES))
def test_each_digit_style_renders_frames_the_server_reads(style: str, train_head: MnistSplit) -> None:
    """Most renderings of every style are framed as ink, not blank (the floor allows a rare miss)."""
    blank = 0
    for index in range(4):
        image = render_digit_as(train_head.images[index], _rng(5, index), style)
        assert isinstance(image, Image.Image)
        assert 28 <= max(image.size) <= 640
        assert min(image.size) >= 4
        prepared = prepare_pixels(image, "auto")
        blank += prepared.blank
        if not prepared.blank:
            assert int(prepared.pixels.max()) >= 128  # the frame holds real strokes
    assert blank <= 1


def test_stroke_letters_are_no_digit_lookalikes_and_no_lone_strokes_or_specks() -> None:
    assert not set(letters.LETTERS + letters.SYMBOLS) & set(DIGIT_LOOKALIKES + "!/|\\()[]{}-_.,:;'`\"^JjDdz")
    assert set(letters.LETTERS) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def test_stroke_letters_are_pen_paths_not_truetype_outlines() -> None:
    """The evaluation's letters come from the machine's TrueType fonts; the training letters never do."""
    tree = ast.parse(Path(letters.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert "ImageFont" not in imported
    for font in letters.STROKE_FONTS:
        drawn = {char: letters.strokes(font, char) for char in letters.LETTERS + letters.SYMBOLS}
        assert all(paths and all(len(path) >= 2 for path in paths) for paths in drawn.values()), font
        # Each character has its own path (a font that maps the codes to one placeholder would fail).
        assert len({repr(paths) for paths in drawn.values()}) == len(drawn), font


@pytest.mark.parametrize("style", ["glyph", "letter", "shape", "mark", "scribble"])
def test_drawn_nondigits_render_frames_the_server_reads(style: str) -> None:
    blank = sum(prepare_pixels(render_nondigit_as(_rng(6, i), style), "auto").blank for i in range(4))
    assert blank <= 1


@pytest.mark.parametrize("style", ["photo", "thing", "texture", "noise"])
def test_picture_nondigits_are_images_of_upload_size(style: str) -> None:
    image = render_nondigit_as(_rng(7, 0), style)
    assert min(image.size) >= 28
    assert max(image.size) <= 640


def test_standing_things_are_framed_as_upright_bodies() -> None:
    """Bottles, cans and jars: the framing keeps them, most of them taller than wide, as a bottle's frame is."""
    frames = [prepare_pixels(render_nondigit_as(_rng(8, i), "thing"), "auto") for i in range(12)]
    shown = [frame.pixels > 127 for frame in frames if not frame.blank]
    assert len(shown) >= 10
    heights = [np.ptp(np.flatnonzero(ink.any(axis=1))) + 1 for ink in shown]
    widths = [np.ptp(np.flatnonzero(ink.any(axis=0))) + 1 for ink in shown]
    assert sum(h >= 2 * w for h, w in zip(heights, widths, strict=True)) >= 4


def test_random_renderers_are_deterministic(train_head: MnistSplit) -> None:
    first = np.asarray(render_digit(train_head.images[0], _rng(1)))
    again = np.asarray(render_digit(train_head.images[0], _rng(1)))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(np.asarray(render_nondigit(_rng(2))), np.asarray(render_nondigit(_rng(2))))


def test_unknown_styles_and_bad_digits_are_refused(train_head: MnistSplit) -> None:
    with pytest.raises(ValueError, match="unknown digit style"):
        render_digit_as(train_head.images[0], _rng(0), "watercolour")
    with pytest.raises(ValueError, match="unknown non-digit style"):
        render_nondigit_as(_rng(0), "watercolour")
    with pytest.raises(ValueError, match=r"\(28, 28\) uint8"):
        render_digit_as(np.zeros((20, 20), np.uint8), _rng(0), "pen")
    with pytest.raises(ValueError, match="no ink"):
        render_digit_as(np.zeros((28, 28), np.uint8), _rng(0), "pen")


def test_bank_labels_sources_and_nondigit_share(train_head: MnistSplit) -> None:
    bank = build_bank_detailed(train_head.images[:24], train_head.labels[:24], 12, seed=3)
    digits = bank.sources >= 0
    # Digits keep their own labels, in order; non-digits come after them, labelled 10.
    np.testing.assert_array_equal(bank.labels[digits], train_head.labels[bank.sources[digits]].astype(np.int64))
    assert np.all(np.diff(bank.sources[digits]) > 0)
    assert np.all(bank.labels[~digits] == NOT_A_DIGIT)
    assert bank.images.shape == (len(bank), 28, 28)
    assert bank.images.dtype == np.uint8
    assert bank.labels.dtype == np.int64
    # Exactly what was rendered minus what was answered blank, counted per style.
    assert sum(bank.rendered.values()) == 36
    assert len(bank) == 36 - sum(bank.dropped.values()) - sum(bank.lookalikes.values())
    left_out = {s: bank.dropped.get(s, 0) + bank.lookalikes.get(s, 0) for s in bank.rendered}
    assert np.count_nonzero(~digits) == 12 - sum(n for s, n in left_out.items() if s.startswith("nondigit/"))
    assert not [s for s in bank.lookalikes if s.startswith("digit/")]  # digits are never judged by shape
    assert np.count_nonzero(~digits) >= 6  # the non-digit share survives the blank drops
    assert np.count_nonzero(digits) >= 22
    assert all(style.startswith(("digit/", "nondigit/")) for style in bank.styles.tolist())
    # The frames are what the server makes of the same renderings.
    source = int(bank.sources[0])
    _, image = bank_module.render(3, 0, source, train_head.images[source])
    np.testing.assert_array_equal(bank.images[0], prepare_pixels(image, "auto").pixels)


def test_bank_is_the_same_for_a_seed_and_any_process_count(train_head: MnistSplit) -> None:
    images, labels = train_head.images[:10], train_head.labels[:10]
    one = build_bank(images, labels, 4, seed=9, processes=1)
    again = build_bank(images, labels, 4, seed=9, processes=1)
    two = build_bank(images, labels, 4, seed=9, processes=2)  # one task each: the digits, the non-digits
    for a, b in ((one, again), (one, two)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    other = build_bank(images, labels, 4, seed=10, processes=1)
    assert not np.array_equal(one[0][:8], other[0][:8])


@pytest.mark.parametrize(
    ("images", "labels", "count", "processes", "message"),
    [
        (np.zeros((2, 20, 20), np.uint8), np.zeros(2, np.int64), 0, 1, r"\(N, 28, 28\) uint8"),
        (np.zeros((2, 28, 28), np.float32), np.zeros(2, np.int64), 0, 1, r"\(N, 28, 28\) uint8"),
        (np.zeros((2, 28, 28), np.uint8), np.zeros(3, np.int64), 0, 1, "2 images but 3 labels"),
        (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), -1, 1, "nondigit_count"),
        (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), 0, 0, "processes"),
    ],
)
def test_bank_refuses_bad_arguments(
    images: NDArray[np.uint8], labels: NDArray[np.int64], count: int, processes: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_bank(images, labels, count, seed=0, processes=processes)


def test_cache_round_trip(tmp_path: Path, train_head: MnistSplit, monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels = train_head.images[:6], train_head.labels[:6]
    built = load_or_build_bank(tmp_path, images, labels, 3, seed=1)
    files = list(tmp_path.glob("bank-*.npz"))
    assert len(files) == 1

    def no_build(*args: object, **kwargs: object) -> bank_module.Bank:
        raise AssertionError("the cached bank should have been read")

    monkeypatch.setattr(bank_module, "build_bank_detailed", no_build)
    cached = load_or_build_bank(tmp_path, images, labels, 3, seed=1)
    for name in ("images", "labels", "styles", "sources"):
        np.testing.assert_array_equal(getattr(built, name), getattr(cached, name))
    assert cached.rendered == built.rendered
    assert cached.dropped == built.dropped
    assert cached.lookalikes == built.lookalikes
    # Another seed, other digits or another count is another bank.
    keys = {
        bank_module.cache_key(images, labels, 3, 1),
        bank_module.cache_key(images, labels, 3, 2),
        bank_module.cache_key(images, labels, 4, 1),
        bank_module.cache_key(train_head.images[6:12], labels, 3, 1),
    }
    assert len(keys) == 4


def test_bank_command_writes_the_bank_and_a_sheet(tmp_path: Path) -> None:
    out, sheet = tmp_path / "bank.npz", tmp_path / "sheet.png"
    argv = ["bank", "--limit", "6", "--nondigits", "3", "--seed", "2", "--out", str(out), "--sheet", str(sheet)]
    assert cli.main([*argv, "--data-dir", str(DATA_DIR)]) == 0
    bank = bank_module.load_bank(out)
    assert 0 < len(bank) <= 9
    assert set(bank.labels.tolist()) <= set(range(11))
    with Image.open(sheet) as image:
        assert image.width > 200
        assert image.height >= 56


def test_bank_command_refuses_negative_counts(tmp_path: Path) -> None:
    assert cli.main(["bank", "--limit", "-1", "--data-dir", str(DATA_DIR)]) == 2
    assert cli.main(["bank", "--limit", "2", "--data-dir", str(tmp_path)]) == 2  # no MNIST there


def test_style_weights_cover_every_style() -> None:
    assert set(DIGIT_STYLES) >= {"plain", "canvas", "lowres", "tight", "lined", "pencil", "shadow"}
    assert abs(sum(NONDIGIT_STYLES.values()) - 1) < 1e-9
    assert abs(sum(DIGIT_STYLES.values()) - 1) < 1e-9


def test_a_lone_upright_stroke_reads_as_one() -> None:
    frame = np.zeros((28, 28), np.uint8)
    frame[4:24, 12:16] = 255  # a bar 20 tall, 4 wide: a 1
    assert bank_module.reads_as_one(frame)
    slanted = np.zeros((28, 28), np.uint8)
    for row in range(4, 24):
        slanted[row, 18 - row // 2 : 21 - row // 2] = 255  # the same bar leaning right
    assert bank_module.reads_as_one(slanted)
    frame[4:8, 6:22] = 255  # with a cross bar it is a T, not a 1
    assert not bank_module.reads_as_one(frame)
    assert not bank_module.reads_as_one(np.zeros((28, 28), np.uint8))


def test_a_bar_lying_down_is_no_one() -> None:
    lying = np.zeros((28, 28), np.uint8)
    lying[12:16, 4:24] = 255  # a dash, or a wave framed 20 wide and 4 tall
    assert not bank_module.reads_as_one(lying)
    steep = np.zeros((28, 28), np.uint8)
    for col in range(4, 24):
        steep[18 - col // 2 : 21 - col // 2, col] = 255  # leaning 63 degrees: beyond every thin MNIST 1
    assert not bank_module.reads_as_one(steep)


def _spread(frame: NDArray[np.uint8]) -> float:
    """The ink's standard deviation across its long axis over that along it."""
    rows, cols = np.nonzero(frame)
    weights = frame[rows, cols].astype(np.float64)
    low, high = np.linalg.eigvalsh(np.cov(np.stack([rows, cols]), aweights=weights))
    return float(np.sqrt(max(low, 0.0) / high))


def test_every_thin_mnist_training_one_reads_as_one() -> None:
    """The lean limit is no tighter than the 1s people wrote: none of them would be taught as a non-digit."""
    train = load_split(DATA_DIR, "train")
    thin = [frame for frame in train.images[train.labels == 1] if _spread(frame) < 0.29]
    assert len(thin) > 6000
    assert all(bank_module.reads_as_one(frame) for frame in thin)
