"""The real-world evaluation set and `python -m training realworld`, on the committed sample."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA_DIR, MLP_MODEL, SERVED_MODEL
from training import evalset
from training.artifacts import load_artifact
from training.cli import main
from training.realworld import Score, score

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "realworld"
# How the committed sample was made (see tests/data/realworld/README.md).
SAMPLE_COUNTS = {"photos": 40, "drawn": 50, "scans": 50}
SAMPLE_PHOTO_SCALE = (3.0, 5.0)


@pytest.fixture(scope="module")
def sample() -> list[evalset.Sample]:
    return evalset.load(SAMPLE_DIR)


def by_subset(scores: list[Score]) -> dict[tuple[str, str], float]:
    return {(s.subset, s.mode): s.accuracy for s in scores}


# Floors sit a few images below what each model scores on the sample; raw scores about 1 in 10.
@pytest.mark.parametrize(
    ("model", "floors"),
    [
        (MLP_MODEL, {"photos": 0.9, "drawn": 0.94, "scans": 0.78}),
        (SERVED_MODEL, {"photos": 0.92, "drawn": 0.94, "scans": 0.9}),
    ],
    ids=["mlp", "served"],
)
def test_framing_beats_raw_by_a_wide_margin(
    sample: list[evalset.Sample], model: Path, floors: dict[str, float]
) -> None:
    accuracy = by_subset(score(load_artifact(model), sample, ("raw", "auto")))
    for subset, floor in floors.items():
        assert accuracy[subset, "auto"] >= floor, subset
        assert accuracy[subset, "auto"] - accuracy[subset, "raw"] >= 0.6, subset


def test_the_command_runs_on_the_committed_sample(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="training")
    code = main(
        ["realworld", "--model", str(MLP_MODEL), "--samples", str(SAMPLE_DIR), "--modes", "raw", "auto", "mnist"]
    )
    assert code == 0
    [table] = [r.getMessage().splitlines() for r in caplog.records if r.getMessage().startswith("subset")]
    header = ["subset", "mode", "accuracy", "correct", "blank", "refused", "warned", "ms/img", "confusions"]
    assert table[0].split() == header
    assert [row.split()[:2] for row in table[1:]] == [
        [subset, mode] for subset in evalset.SUBSETS for mode in ("raw", "auto", "mnist")
    ]
    assert f"{SAMPLE_COUNTS['scans']}" in table[-1]


def test_the_command_reports_a_missing_sample_directory(tmp_path: Path) -> None:
    assert main(["realworld", "--model", str(MLP_MODEL), "--samples", str(tmp_path / "absent")]) == 2


def decoded(samples: list[evalset.Sample]) -> list[np.ndarray]:
    return [np.asarray(s.image(), dtype=np.int16) for s in samples]


@pytest.mark.parametrize("subset", ["drawn", "scans"])
def test_the_committed_sample_is_what_the_generator_makes(sample: list[evalset.Sample], subset: str) -> None:
    committed = [s for s in sample if s.subset == subset]
    generated = evalset.generate(subset, SAMPLE_COUNTS[subset])
    assert [s.label for s in committed] == [s.label for s in generated]
    for a, b in zip(decoded(committed), decoded(generated), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason="MNIST test split not available")
def test_the_committed_photos_are_what_the_generator_makes(sample: list[evalset.Sample]) -> None:
    committed = [s for s in sample if s.subset == "photos"]
    generated = evalset.generate("photos", SAMPLE_COUNTS["photos"], mnist_dir=DATA_DIR, photo_scale=SAMPLE_PHOTO_SCALE)
    assert [s.label for s in committed] == [s.label for s in generated]
    for a, b in zip(decoded(committed), decoded(generated), strict=True):
        assert a.shape == b.shape
        assert np.abs(a - b).mean() < 1


def test_generation_is_deterministic_and_labels_cover_all_digits() -> None:
    first, second = evalset.generate("drawn", 20, seed=3), evalset.generate("drawn", 20, seed=3)
    assert [s.data for s in first] == [s.data for s in second]
    assert sorted({s.label for s in first}) == list(range(10))
    assert [s.data for s in evalset.generate("drawn", 20, seed=4)] != [s.data for s in first]
    with pytest.raises(ValueError, match="MNIST"):
        evalset.generate("photos", 1)
    with pytest.raises(ValueError, match="subset"):
        evalset.generate("sketches", 1)
