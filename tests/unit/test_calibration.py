"""Temperature scaling, ECE, the energy threshold, and how artifacts carry them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import DATA_DIR, MODELS_DIR, write_tiny_artifact
from training.artifact_format import ArtifactError, metadata_path
from training.artifacts import load_artifact, predict_probabilities, score_batch
from training.calibration import (
    REFUSE_RATE,
    Calibration,
    CalibrationError,
    calibrate,
    energy,
    expected_calibration_error,
    fit_temperature,
    not_a_digit_log_odds,
    threshold_refusing,
)
from training.cli import main


def test_fit_temperature_recovers_the_temperature_that_made_the_logits_overconfident() -> None:
    generator = torch.Generator().manual_seed(0)
    calibrated = torch.randn(20000, 10, generator=generator) * 2
    labels = torch.multinomial(torch.softmax(calibrated, 1), 1, generator=generator).squeeze(1).numpy()
    assert fit_temperature(calibrated.numpy() * 3, labels) == pytest.approx(3.0, rel=0.05)
    assert fit_temperature(calibrated.numpy(), labels) == pytest.approx(1.0, rel=0.05)


def test_ece_is_the_weighted_gap_between_confidence_and_accuracy() -> None:
    confident = np.tile(np.eye(10, dtype=np.float32)[0], (4, 1))  # always "0" with probability 1
    assert expected_calibration_error(confident, np.array([0, 0, 0, 0])) == 0.0
    assert expected_calibration_error(confident, np.array([0, 0, 1, 1])) == pytest.approx(0.5)
    honest = np.full((10, 10), 0.05, np.float32)
    honest[:, 0] = 0.55  # 55% sure, right 6 times out of 10: gap 0.05
    assert expected_calibration_error(honest, np.array([0] * 6 + [1] * 4)) == pytest.approx(0.05, abs=1e-6)


def test_energy_threshold_refuses_at_most_the_chosen_share() -> None:
    energies = np.random.default_rng(0).normal(size=5000).astype(np.float32)
    threshold = threshold_refusing(energies)
    assert np.mean(energies > threshold) <= REFUSE_RATE
    assert np.mean(energies > threshold) >= REFUSE_RATE - 1 / 5000


def test_energy_is_higher_for_flat_logits() -> None:
    logits = np.array([[10.0] + [0.0] * 9, [0.1] * 10], dtype=np.float32)
    low, high = energy(logits, 1.0).tolist()
    assert low < high


@pytest.mark.parametrize(
    "calibration",
    [
        {"temperature": 0},
        {"temperature": -1.0},
        {"temperature": "2"},
        {"temperature": True},
        {"energy_threshold": "x"},
        {"reject_threshold": float("nan")},
    ],
)
def test_invalid_calibration_metadata_is_refused(tmp_path: Path, calibration: dict[str, object]) -> None:
    path = write_tiny_artifact(tmp_path / "m.safetensors")
    meta = json.loads(metadata_path(path).read_text())
    metadata_path(path).write_text(json.dumps({**meta, "calibration": calibration}))
    with pytest.raises(ArtifactError, match="calibration|temperature|energy_threshold|reject_threshold"):
        load_artifact(path)
    with pytest.raises(CalibrationError):
        Calibration.from_metadata({"calibration": calibration})


def test_an_artifact_without_calibration_is_served_as_before(tmp_path: Path) -> None:
    loaded = load_artifact(write_tiny_artifact(tmp_path / "m.safetensors"))
    assert loaded.calibration == Calibration()
    batch = torch.zeros(2, 1, 28, 28)
    with torch.inference_mode():
        expected = torch.softmax(loaded.model(batch), 1).numpy()
    assert np.allclose(predict_probabilities(loaded, batch), expected, atol=1e-6)
    assert not score_batch(loaded, batch).refused.any()


@pytest.mark.parametrize("name", ["compact", "cnn-large", "mlp", "mlp-tutorial"])
def test_committed_models_are_calibrated_and_still_load(name: str) -> None:
    loaded = load_artifact(MODELS_DIR / f"{name}.safetensors")
    entry = loaded.metadata["calibration"]
    assert loaded.calibration.temperature == entry["temperature"] != 1.0
    threshold = "reject_threshold" if loaded.rejects else "energy_threshold"
    assert getattr(loaded.calibration, threshold) == entry[threshold]
    assert entry["validation_refused"] <= REFUSE_RATE
    assert entry["validation_nll_after"] <= entry["validation_nll_before"]
    assert entry["test_ece_after"] <= 0.02


def test_temperature_divides_the_logits_and_keeps_the_digit(tmp_path: Path) -> None:
    path = write_tiny_artifact(tmp_path / "m.safetensors")
    meta = json.loads(metadata_path(path).read_text())
    metadata_path(path).write_text(json.dumps({**meta, "calibration": {"temperature": 2.0, "energy_threshold": None}}))
    loaded = load_artifact(path)
    batch = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        logits = loaded.model(batch)
    served = predict_probabilities(loaded, batch)
    assert np.allclose(served, torch.softmax(logits / 2, 1).numpy(), atol=1e-6)
    assert np.array_equal(served.argmax(1), logits.argmax(1).numpy())


def test_calibrate_command_rewrites_only_the_sidecar(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:

    caplog.set_level(logging.INFO, logger="training")
    path = write_tiny_artifact(tmp_path / "m.safetensors")
    weights = path.read_bytes()
    assert main(["calibrate", str(path), "--data-dir", str(DATA_DIR), "--realworld-per-kind", "3"]) == 0
    assert path.read_bytes() == weights
    loaded = load_artifact(path)  # the checksum still holds
    entry = loaded.metadata["calibration"]
    assert entry["temperature"] == loaded.calibration.temperature
    assert entry["validation_refused"] <= REFUSE_RATE
    assert {"test_ece_before", "test_ece_after", "validation_ece_after"} <= set(entry)
    assert entry["realworld_dev_images"] <= 3 * 10
    assert entry["energy_threshold"] == max(entry["mnist_energy_threshold"], entry["realworld_dev_energy_threshold"])
    assert any("ECE (15 bins)" in message for message in caplog.messages)


def test_calibrate_command_refuses_a_model_that_trained_on_the_validation_images(tmp_path: Path) -> None:

    path = write_tiny_artifact(tmp_path / "m.safetensors")
    meta = json.loads(metadata_path(path).read_text())
    meta["hyperparameters"] = {"validate_on_test": True}
    metadata_path(path).write_text(json.dumps(meta))
    assert main(["calibrate", str(path), "--data-dir", str(DATA_DIR)]) == 2
    assert "calibration" not in json.loads(metadata_path(path).read_text())


def test_a_model_with_the_not_a_digit_class_refuses_by_that_class_not_by_energy(tmp_path: Path) -> None:
    path = write_tiny_artifact(tmp_path / "m.safetensors", rejects=True)
    loaded = load_artifact(path)
    assert loaded.rejects
    batch = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        outputs = loaded.model(batch)
    scores = score_batch(loaded, batch)
    assert scores.probabilities.shape == (64, 10)  # the digits' probabilities, summing to 1
    assert np.allclose(scores.probabilities.sum(1), np.ones(64), atol=1e-6)
    # No threshold recorded: refused exactly when "not a digit" outweighs all the digits together.
    assert scores.refusal_threshold == 0.0
    not_a_digit = torch.softmax(outputs, 1)[:, 10] > 0.5
    assert np.array_equal(scores.refused, not_a_digit.numpy())
    meta = json.loads(metadata_path(path).read_text())
    metadata_path(path).write_text(json.dumps({**meta, "calibration": {"reject_threshold": 100.0}}))
    assert not score_batch(load_artifact(path), batch).refused.any()


def test_calibrate_fits_the_not_a_digit_threshold_on_validation_digits() -> None:
    generator = torch.Generator().manual_seed(1)
    digits = torch.randn(5000, 10, generator=generator) * 3
    labels = digits.argmax(1).numpy()
    outputs = torch.cat([digits, torch.randn(5000, 1, generator=generator) * 3], 1).numpy()
    fitted, report = calibrate(outputs, labels)
    assert fitted.energy_threshold is None
    assert fitted.reject_threshold is not None
    scores = not_a_digit_log_odds(outputs)
    assert fitted.reject_threshold >= 0.0
    assert np.mean(scores > fitted.reject_threshold) <= REFUSE_RATE
    assert report["validation_refused"] == pytest.approx(np.mean(scores > fitted.reject_threshold))


def test_classes_and_network_outputs_must_agree(tmp_path: Path) -> None:
    path = write_tiny_artifact(tmp_path / "m.safetensors", rejects=True)
    meta = json.loads(metadata_path(path).read_text())
    metadata_path(path).write_text(json.dumps({**meta, "classes": meta["classes"][:10]}))
    with pytest.raises(ArtifactError, match="11 outputs for 10 classes"):
        load_artifact(path)
    metadata_path(path).write_text(json.dumps({**meta, "classes": [*meta["classes"][:10], "cat"]}))
    with pytest.raises(ArtifactError, match="unexpected classes"):
        load_artifact(path)


@pytest.mark.parametrize("architecture", [{"name": "mlp", "kwargs": None}, {"name": "mlp", "kwargs": [1]}, "mlp"])
def test_a_malformed_architecture_is_refused_not_a_crash(tmp_path: Path, architecture: object) -> None:
    path = write_tiny_artifact(tmp_path / "m.safetensors")
    meta = json.loads(metadata_path(path).read_text())
    metadata_path(path).write_text(json.dumps({**meta, "architecture": architecture}))
    if architecture == {"name": "mlp", "kwargs": None}:
        assert load_artifact(path).id == meta["id"]  # no arguments: the architecture's defaults
    else:
        with pytest.raises(ArtifactError):
            load_artifact(path)
