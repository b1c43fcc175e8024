"""Framing on the committed sample of the issue-9 kinds (dev split): ink kept, centred, never blank.

tests/data/realworld-kinds holds 8 images of each kind, written by

    python -m training realworld --model models/compact.safetensors --split dev --count 8 \
        --subsets tight marker canvas lowres pencil lined squared shadow colour inverted \
        --write tests/data/realworld-kinds

Before the framing fixes of issue 9, 3 of the 8 tight crops, 2 of the pencil digits and 2 of the
shadowed ones were answered blank.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.conftest import DATA_DIR, MLP_MODEL, SERVED_MODEL
from training import evalset
from training.artifacts import load_artifact
from training.framing import FIT_SIDE, MNIST_CENTRE
from training.preprocessing import prepare_pixels
from training.realworld import score

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "realworld-kinds"
PER_KIND = 8


@pytest.fixture(scope="module")
def sample() -> list[evalset.Sample]:
    return evalset.load(SAMPLE_DIR)


def of_kind(sample: list[evalset.Sample], kind: str) -> list[evalset.Sample]:
    chosen = [s for s in sample if s.subset == kind]
    assert len(chosen) == PER_KIND
    return chosen


def centre_of_mass(frame: NDArray[np.uint8]) -> tuple[float, float]:
    weights = frame.astype(np.float64)
    rows, cols = np.indices(frame.shape)
    return float((rows * weights).sum() / weights.sum()), float((cols * weights).sum() / weights.sum())


@pytest.mark.parametrize("kind", evalset.KINDS)
def test_every_digit_of_each_kind_is_framed_with_its_ink(sample: list[evalset.Sample], kind: str) -> None:
    for s in of_kind(sample, kind):
        prepared = prepare_pixels(s.image(), "auto")
        assert not prepared.blank, (s.name, prepared.reason)
        frame = prepared.pixels
        row, col = centre_of_mass(frame)
        assert abs(row - MNIST_CENTRE) < 0.5, s.name
        assert abs(col - MNIST_CENTRE) < 0.5, s.name
        # Ink kept: a digit-sized, solid figure, not an outline, a speck or a blank frame.
        long_side = max(frame.max(axis=1).sum(), frame.max(axis=0).sum()) / 255
        assert FIT_SIDE - 3 <= long_side <= FIT_SIDE + 3, s.name
        assert frame.sum() / 255 >= 40, s.name


def test_the_served_model_reads_the_sample(sample: list[evalset.Sample]) -> None:
    scores = score(load_artifact(SERVED_MODEL), sample, ("auto",))
    assert sum(s.blank for s in scores) == 0
    # 79 of 80 at the time of writing; raw reads about 1 in 6.
    assert sum(s.correct for s in scores) >= 76
    assert all(s.correct >= PER_KIND - 2 for s in scores), [(s.subset, s.correct) for s in scores]


def test_the_committed_low_resolution_scans_are_what_the_generator_makes(sample: list[evalset.Sample]) -> None:
    committed = of_kind(sample, "lowres")
    generated = evalset.generate("lowres", PER_KIND, split="dev")
    assert [(s.label, s.data) for s in committed] == [(s.label, s.data) for s in generated]


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason="MNIST test split not available")
@pytest.mark.parametrize("kind", [k for k in evalset.KINDS if k != "lowres"])
def test_the_committed_sample_is_what_the_generator_makes(sample: list[evalset.Sample], kind: str) -> None:
    committed = of_kind(sample, kind)
    generated = evalset.generate(kind, PER_KIND, split="dev", mnist_dir=DATA_DIR)
    assert [s.label for s in committed] == [s.label for s in generated]
    for a, b in zip(committed, generated, strict=True):
        # JPEG encoders may differ by a level between libjpeg builds; PNGs are exact.
        pixels_a, pixels_b = (np.asarray(x.image(), dtype=np.int16) for x in (a, b))
        assert pixels_a.shape == pixels_b.shape
        assert np.abs(pixels_a - pixels_b).mean() < 1


def test_the_command_draws_the_misread_uploads_beside_their_frames(tmp_path: Path) -> None:
    from PIL import Image

    from training.cli import main
    from training.failures import CELL, PER_ROW

    sheet = tmp_path / "failures.png"
    args = ["realworld", "--model", str(SERVED_MODEL), "--samples", str(SAMPLE_DIR), "--modes", "raw"]
    assert main([*args, "--failures", str(sheet)]) == 0
    with Image.open(sheet) as image:
        # raw misreads most of every kind: one row per kind, each upload beside its frame
        assert image.size == (2 * CELL * PER_ROW, CELL * len(evalset.KINDS))


def test_the_command_answers_with_the_int8_form_when_asked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--int8 measures what DIGITS_INT8 serves: an artifact's recorded int8 network, and the float one
    for an artifact without a record (the committed default has none since stop 13: README, Models)."""
    from training import quantize_cli
    from training.cli import main

    recorded = tmp_path / SERVED_MODEL.name
    shutil.copy(SERVED_MODEL, recorded)
    shutil.copy(SERVED_MODEL.with_suffix(".json"), recorded.with_suffix(".json"))
    # Recorded whatever it costs here: what is tested is that the command answers with the record.
    monkeypatch.setattr(quantize_cli, "MAX_ACCURACY_LOSS", 1.0)
    monkeypatch.setattr(quantize_cli, "MIN_AGREEMENT", 0.9)
    assert main(["quantize", str(recorded), "--data-dir", str(DATA_DIR), "--calibration-images", "200"]) == 0
    args = ["realworld", "--model", str(recorded), "--samples", str(SAMPLE_DIR), "--modes", "auto"]
    with caplog.at_level(logging.INFO, logger="training"):
        assert main([*args, "--int8", "--subsets", "tight"]) == 0
    assert "tight" in caplog.text
    assert "serving it in float" not in caplog.text  # the recorded int8 form was used
    caplog.clear()
    for plain in (SERVED_MODEL, MLP_MODEL):
        float_only = ["realworld", "--model", str(plain), "--samples", str(SAMPLE_DIR), "--modes", "auto", "--int8"]
        with caplog.at_level(logging.INFO, logger="training"):
            assert main([*float_only, "--subsets", "tight"]) == 0
        assert "has no int8 ranges" in caplog.text  # an artifact without a record is measured in float
        caplog.clear()


def test_the_report_names_the_fonts_its_letters_are_drawn_with(caplog: pytest.LogCaptureFixture) -> None:
    """Letters and symbols come from the machine's fonts: another font set is another test set."""
    from training.cli import main
    from training.evalset.nondigits import font_families, fonts

    families = font_families()
    assert sum(families.values()) == len(fonts())
    args = ["realworld", "--model", str(SERVED_MODEL), "--subsets", "letters", "--count", "2", "--numbers", "0"]
    with caplog.at_level(logging.INFO, logger="training"):
        assert main([*args, "--modes", "auto"]) == 0
    [line] = [m for m in caplog.messages if m.startswith("letters and symbols drawn with:")]
    assert all(f"{family} ({count})" in line for family, count in families.items())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="training"):
        assert (
            main(["realworld", "--model", str(SERVED_MODEL), "--subsets", "tight", "--count", "2", "--numbers", "0"])
            == 0
        )
    assert not any(m.startswith("letters and symbols") for m in caplog.messages)
