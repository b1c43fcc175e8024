"""int8 forms: answers as float on MNIST, ranges recorded offline and refused when they do not fit, and
the serving switch. They also show that torch.ao's eager API still works in the torch they run on."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn

from app.core.config import Settings
from app.main import create_app
from tests.conftest import CNN_LARGE_MODEL, DATA_DIR, MLP_MODEL, SERVED_MODEL, png_bytes
from training import quantize as quantize_module
from training import quantize_cli
from training.artifacts import LoadedModel, load_artifact, score_batch
from training.calibrate_cli import validation_split
from training.cli import main as training_main
from training.mnist import MnistSplit, load_split
from training.optimize import for_serving
from training.preprocessing import normalize
from training.quantize import QuantizationError, calibrate, quantize, ranges_from_json, ranges_to_json

COMPARED_IMAGES = 1000
CALIBRATION_IMAGES = 500


@pytest.fixture(scope="module")
def validation() -> MnistSplit:
    return validation_split(load_split(DATA_DIR, "train")).head(CALIBRATION_IMAGES)


@pytest.fixture(scope="module")
def cnn() -> LoadedModel:
    return load_artifact(CNN_LARGE_MODEL)  # committed without int8 ranges: the tests record their own


@pytest.fixture(scope="module")
def cnn_ranges(cnn: LoadedModel, validation: MnistSplit) -> dict[str, tuple[float, int]]:
    return calibrate(cnn.model, torch.from_numpy(normalize(validation.images, cnn.normalization)))


def with_record(loaded: LoadedModel, ranges: dict[str, tuple[float, int]]) -> LoadedModel:
    record = {"engine": "x86", "activations": ranges_to_json(ranges)}
    return dataclasses.replace(loaded, metadata={**loaded.metadata, "int8": record})


def test_int8_cnn_answers_as_float(
    cnn: LoadedModel, cnn_ranges: dict[str, tuple[float, int]], mnist_test: MnistSplit
) -> None:
    served = for_serving(with_record(cnn, cnn_ranges), int8=True)
    assert served.quantized is not None
    batch = normalize(mnist_test.images[:COMPARED_IMAGES], cnn.normalization)
    as_float, as_int8 = score_batch(cnn, batch), score_batch(served, batch)
    assert not np.array_equal(as_float.logits, as_int8.logits)  # the int8 network did answer
    same = (as_float.logits.argmax(1) == as_int8.logits.argmax(1)) & (as_float.refused == as_int8.refused)
    assert float(np.mean(same)) >= 0.999
    # The logits stay in float (last Linear unquantized), so the calibrated probabilities stay close.
    assert float(np.abs(as_float.probabilities - as_int8.probabilities).mean()) < 0.01


def test_the_default_model_without_an_int8_form_is_served_in_float(caplog: pytest.LogCaptureFixture) -> None:
    """The committed default's int8 form lost 0.06 points of test accuracy, so `python -m training
    quantize` recorded none (README, Models): DIGITS_INT8 serves its float network and says why."""
    compact = load_artifact(SERVED_MODEL)
    assert "int8" not in compact.metadata
    with caplog.at_level(logging.INFO, logger="training"):
        assert for_serving(compact, int8=True).quantized is None
    assert "has no int8 ranges" in caplog.text


def test_quantizing_leaves_the_float_model_untouched(
    cnn: LoadedModel, cnn_ranges: dict[str, tuple[float, int]]
) -> None:
    before = {name: tensor.clone() for name, tensor in cnn.model.state_dict().items()}
    structure = repr(cnn.model)
    quantize(cnn.model, cnn_ranges)
    assert repr(cnn.model) == structure
    for name, tensor in cnn.model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_ranges_are_one_per_quantized_activation(cnn_ranges: dict[str, tuple[float, int]]) -> None:
    # The input, four conv+ReLU and the hidden Linear+ReLU; the logits' Linear stays in float.
    assert sorted(cnn_ranges) == sorted(
        ["0", "1.features.0", "1.features.3", "1.features.7", "1.features.10", "1.classifier.2"]
    )
    assert all(scale > 0 and 0 <= zero_point <= 255 for scale, zero_point in cnn_ranges.values())
    assert ranges_from_json(json.loads(json.dumps(ranges_to_json(cnn_ranges)))) == cnn_ranges


def test_ranges_that_do_not_fit_the_network_are_refused(
    cnn: LoadedModel, cnn_ranges: dict[str, tuple[float, int]]
) -> None:
    fewer = dict(list(cnn_ranges.items())[1:])
    with pytest.raises(QuantizationError, match=r"missing \['0'\]"):
        quantize(cnn.model, fewer)
    with pytest.raises(QuantizationError, match=r"unexpected \['1.features.99'\]"):
        quantize(cnn.model, {**cnn_ranges, "1.features.99": (0.1, 0)})


@pytest.mark.parametrize(
    ("pair", "message"),
    [((0.0, 0), "not a positive number"), ((float("nan"), 0), "not a positive number"), ((0.1, 300), "not in 0..255")],
)
def test_bad_numbers_are_refused(
    cnn: LoadedModel, cnn_ranges: dict[str, tuple[float, int]], pair: tuple[float, int], message: str
) -> None:
    with pytest.raises(QuantizationError, match=message):
        quantize(cnn.model, {**cnn_ranges, "0": pair})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "non-empty object"),
        ({}, "non-empty object"),
        ({"0": [0.1]}, r"expected \[scale, zero point\]"),
        ({"0": "0.1,0"}, r"expected \[scale, zero point\]"),
        ({"0": ["0.1", 0]}, "scale '0.1' is not a number"),
        ({"0": [True, 0]}, "scale True is not a number"),
        ({"0": [0.1, 0.5]}, "zero point 0.5 is not an integer"),
    ],
)
def test_malformed_json_ranges_are_refused(data: object, message: str) -> None:
    with pytest.raises(QuantizationError, match=message):
        ranges_from_json(data)


def test_a_network_without_linear_layer_is_refused() -> None:
    convs = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten()).eval()
    with pytest.raises(QuantizationError, match="no Linear layer"):
        calibrate(convs, torch.zeros(2, 1, 28, 28))


def test_the_mlp_quantizes_too(validation: MnistSplit, mnist_test: MnistSplit) -> None:
    mlp = load_artifact(MLP_MODEL)
    ranges = calibrate(mlp.model, torch.from_numpy(normalize(validation.images, mlp.normalization)))
    assert sorted(ranges) == ["0", "1.net.1", "1.net.3"]  # input, two Linear+ReLU; the logits in float
    batch = torch.from_numpy(normalize(mnist_test.images[:COMPARED_IMAGES], mlp.normalization))
    with torch.inference_mode():
        same = mlp.model(batch).argmax(1) == quantize(mlp.model, ranges)(batch).argmax(1)
    assert float(same.double().mean()) >= 0.99  # the mlp's int8 form is not served: quantize_cli refuses it


def test_serving_without_the_switch_or_a_record_stays_float(
    cnn: LoadedModel, cnn_ranges: dict[str, tuple[float, int]], caplog: pytest.LogCaptureFixture
) -> None:
    assert for_serving(with_record(cnn, cnn_ranges)).quantized is None  # DIGITS_INT8 off
    with caplog.at_level(logging.INFO, logger="training"):
        assert for_serving(cnn, int8=True).quantized is None
    assert "has no int8 ranges" in caplog.text


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"engine": "qnnpack", "activations": {"0": [0.1, 0]}}, "another engine"),
        ("x86", "another engine"),
        ({"engine": "x86", "activations": {"0": [0.1, 0]}}, "do not match the network"),
        ({"engine": "x86"}, "non-empty object"),
    ],
)
def test_an_unusable_record_is_served_in_float_and_said(
    cnn: LoadedModel, record: object, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken = dataclasses.replace(cnn, metadata={**cnn.metadata, "int8": record})
    with caplog.at_level(logging.ERROR, logger="training"):
        served = for_serving(broken, int8=True)
    assert served.quantized is None
    assert "serving it in float" in caplog.text
    assert message in caplog.text


def test_a_cpu_without_the_x86_engine_serves_float(
    cnn: LoadedModel,
    cnn_ranges: dict[str, tuple[float, int]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(torch.backends.quantized, "engine", "qnnpack")  # restored after the test
    monkeypatch.setattr(quantize_module, "engine_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="training"):
        assert for_serving(with_record(cnn, cnn_ranges), int8=True).quantized is None
    assert "no x86 quantized engine" in caplog.text


def copy_artifact(source: Path, directory: Path) -> Path:
    for suffix in (".safetensors", ".json"):
        shutil.copy(source.with_suffix(suffix), directory / source.with_suffix(suffix).name)
    return directory / source.name


def test_the_command_refuses_an_int8_form_that_loses_accuracy(tmp_path: Path) -> None:
    path = copy_artifact(MLP_MODEL, tmp_path)
    sidecar = path.with_suffix(".json").read_bytes()
    # The mlp's int8 form loses 0.06 points on the test set (more than the 0.05 allowed).
    assert training_main(["quantize", str(path), "--data-dir", str(DATA_DIR), "--calibration-images", "1000"]) == 1
    assert path.with_suffix(".json").read_bytes() == sidecar


def test_the_command_records_the_ranges_and_the_checksum_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = copy_artifact(MLP_MODEL, tmp_path)
    weights = path.read_bytes()
    monkeypatch.setattr(quantize_cli, "MAX_ACCURACY_LOSS", 1.0)  # so that the mlp is accepted
    monkeypatch.setattr(quantize_cli, "MIN_AGREEMENT", 0.99)
    assert training_main(["quantize", str(path), "--data-dir", str(DATA_DIR), "--calibration-images", "200"]) == 0
    assert path.read_bytes() == weights
    loaded = load_artifact(path)  # sidecar still valid, weights' checksum unchanged
    record = loaded.metadata["int8"]
    assert record["engine"] == "x86"
    assert record["calibration_images"] == 200
    assert sorted(record["activations"]) == ["0", "1.net.1", "1.net.3"]
    assert 0.97 < record["test_accuracy"] <= 1
    assert record["agreement"] >= 0.99
    assert for_serving(loaded, int8=True).quantized is not None


@pytest.mark.parametrize(
    ("figures", "reason"),
    [
        ({"float_test_accuracy": 0.9961, "test_accuracy": 0.9956, "agreement": 0.9999}, None),
        ({"float_test_accuracy": 0.9961, "test_accuracy": 0.9955, "agreement": 0.9999}, "loses 0.06 points"),
        ({"float_test_accuracy": 0.9961, "test_accuracy": 0.9961, "agreement": 0.9985}, "99.85% of test digits"),
    ],
)
def test_acceptance_bounds(figures: dict[str, float], reason: str | None) -> None:
    verdict = quantize_cli.acceptable(figures)
    assert verdict is None if reason is None else reason in (verdict or "")


def test_the_switch_serves_the_int8_form(
    tmp_path: Path,
    cnn: LoadedModel,
    cnn_ranges: dict[str, tuple[float, int]],
    monkeypatch: pytest.MonkeyPatch,
    mnist_test: MnistSplit,
) -> None:
    path = copy_artifact(CNN_LARGE_MODEL, tmp_path)
    metadata = json.loads(path.with_suffix(".json").read_text())
    metadata["int8"] = {"engine": "x86", "activations": ranges_to_json(cnn_ranges)}
    path.with_suffix(".json").write_text(json.dumps(metadata))
    assert not Settings(model=path, state_dir=tmp_path / "state").int8  # off unless asked for
    monkeypatch.setenv("DIGITS_INT8", "true")
    settings = Settings(model=path, state_dir=tmp_path / "state", data_dir=DATA_DIR, inference_workers=1)
    assert settings.int8
    with TestClient(create_app(settings)) as client:
        served = client.app.state.holder.current  # type: ignore[attr-defined]
        assert served.form == "int8"
        response = client.post("/predict", files={"file": ("d.png", png_bytes(mnist_test.images[0]), "image/png")})
        assert response.status_code == 200, response.text
        assert response.json()["digit"] == int(mnist_test.labels[0])
        # Explanations need gradients: they run the float network, which int8 serving keeps.
        explained = client.post(
            "/predict/explain", files={"file": ("d.png", png_bytes(mnist_test.images[0]), "image/png")}
        )
        assert explained.status_code == 200, explained.text
