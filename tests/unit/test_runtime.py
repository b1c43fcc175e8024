"""The served form (training.runtime): the trained network as an ONNX Runtime session, built from
safetensors + JSON without torch, answering as the torch network does."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import torch
from safetensors.numpy import load as load_numpy
from safetensors.numpy import save as save_numpy

from app.core.model_holder import ModelHolder
from tests.conftest import CNN_LARGE_MODEL, MLP_MODEL, SERVED_MODEL, write_tiny_artifact
from training.artifact_format import ArtifactError, metadata_path
from training.artifacts import load_artifact, network_outputs, score_batch
from training.config import MODEL_KWARGS
from training.mnist import MnistSplit
from training.models import build_model
from training.preprocessing import normalize
from training.runtime import expected_tensors, layers_of, load_served

ROOT = Path(__file__).resolve().parents[2]
COMPARED_IMAGES = 1000


@pytest.mark.parametrize("path", [SERVED_MODEL, CNN_LARGE_MODEL, MLP_MODEL], ids=["compact", "cnn-large", "mlp"])
def test_the_served_network_answers_as_the_trained_one(path: Path, mnist_test: MnistSplit) -> None:
    """The issue's check: the folded form that serves agrees with the float model on >= 99.9% of 1,000
    test digits (the digit read and the refusal alike)."""
    trained, served = load_artifact(path), load_served(path)
    inputs = normalize(mnist_test.images[:COMPARED_IMAGES], trained.normalization)
    expected, answered = score_batch(trained, inputs), served.score(inputs)
    same = (expected.logits.argmax(1) == answered.logits.argmax(1)) & (expected.refused == answered.refused)
    assert len(same) == COMPARED_IMAGES
    assert float(np.mean(same)) >= 0.999
    # Folding BatchNorm only reorders float arithmetic: logits of O(10) differ at rounding level.
    assert float(np.abs(network_outputs(trained, inputs) - served.forward(inputs)).max()) < 1e-3
    assert np.allclose(expected.probabilities, answered.probabilities, atol=1e-4)
    assert served.id == trained.id
    assert (served.normalization, served.calibration, served.rejects) == (
        trained.normalization,
        trained.calibration,
        trained.rejects,
    )


VARIANTS = [
    # {}: the graphs' defaults are the constructors' (artifacts store every argument, but need not).
    ("mlp", {}),
    ("cnn", {}),
    ("compact", {}),
    ("mlp", MODEL_KWARGS["mlp"]),
    ("mlp", {"in_features": 784, "hidden": [50], "classes": 11}),
    ("cnn", MODEL_KWARGS["cnn"]),
    ("cnn", {"channels": [8, 16], "hidden": 32, "classes": 11}),
    ("compact", MODEL_KWARGS["compact"]),
    ("compact", {"channels": [8, 16, 16, 32, 24], "separable_down": False, "classes": 11}),
]


@pytest.mark.parametrize(("arch", "kwargs"), VARIANTS)
def test_the_graph_expects_exactly_the_torch_networks_tensors(arch: str, kwargs: dict[str, Any]) -> None:
    state = build_model(arch, kwargs).state_dict()
    expected = expected_tensors(layers_of(arch, kwargs))
    assert {name: (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in state.items()} == expected


def _trained_like(arch: str, kwargs: dict[str, Any]) -> torch.nn.Module:
    """A seeded network whose BatchNorm statistics are far from the defaults, so a wrong fold shows."""
    torch.manual_seed(0)
    model = build_model(arch, kwargs)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(32, 1, 28, 28) * 2 + 0.5)
    return model.eval()


@pytest.mark.parametrize(("arch", "kwargs"), VARIANTS)
def test_every_architecture_computes_what_torch_computes(tmp_path: Path, arch: str, kwargs: dict[str, Any]) -> None:
    from training.artifact_format import CLASSES, CLASSES_WITH_REJECT
    from training.artifacts import save_artifact
    from training.preprocessing import REFERENCE

    model = _trained_like(arch, kwargs)
    path = tmp_path / "m.safetensors"
    metadata = {
        "id": "m",
        "architecture": {"name": arch, "kwargs": kwargs},
        "preprocessing": REFERENCE.to_dict(),
        "classes": CLASSES_WITH_REJECT if kwargs.get("classes") == 11 else CLASSES,
    }
    save_artifact(model, metadata, path)
    batch = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = model(batch).numpy()
    assert np.allclose(load_served(path).forward(batch.numpy()), expected, atol=1e-4)


def _rewrite_weights(path: Path, tensors: dict[str, np.ndarray[Any, Any]]) -> None:
    """Replace an artifact's weights and re-sign them: only the loaders' own checks can refuse them now."""
    blob = save_numpy(tensors)
    path.write_bytes(blob)
    meta = json.loads(metadata_path(path).read_text())
    metadata_path(path).write_text(json.dumps({**meta, "weights_sha256": hashlib.sha256(blob).hexdigest()}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.pop("net.5.bias"), r"missing \['net\.5\.bias'\]"),
        (lambda t: t.update(extra=np.zeros(3, np.float32)), r"unexpected \['extra'\]"),
        (lambda t: t.update({"net.3.bias": np.zeros(64, np.float32)}), r"tensor net\.3\.bias is \(64,\)"),
        (
            lambda t: t.update({"net.3.bias": np.zeros(65, np.float64)}),
            r"tensor net\.3\.bias is \(65,\) (torch\.)?float64",
        ),
    ],
    ids=["missing", "unexpected", "shape", "dtype"],
)
def test_both_loaders_refuse_weights_that_do_not_fit(tiny_model: Path, change: Any, message: str) -> None:
    tensors = load_numpy(tiny_model.read_bytes())
    change(tensors)
    _rewrite_weights(tiny_model, tensors)
    for load in (load_artifact, load_served):
        with pytest.raises(ArtifactError, match=message):
            load(tiny_model)


@pytest.mark.parametrize(
    ("architecture", "message"),
    [
        ({"name": "resnet", "kwargs": {}}, "unknown architecture 'resnet'"),
        ({"name": "mlp", "kwargs": {"depth": 3}}, "invalid arguments for mlp"),
        ({"name": "mlp", "kwargs": [1, 2]}, "invalid arguments for mlp"),
        ({"kwargs": {}}, "'name'"),
    ],
    ids=["unknown", "bad-argument", "not-an-object", "no-name"],
)
def test_both_loaders_refuse_an_architecture_they_cannot_build(
    tiny_model: Path, architecture: object, message: str
) -> None:
    meta = json.loads(metadata_path(tiny_model).read_text())
    metadata_path(tiny_model).write_text(json.dumps({**meta, "architecture": architecture}))
    for load in (load_artifact, load_served):
        with pytest.raises(ArtifactError, match=message):
            load(tiny_model)


def test_bytes_that_are_not_safetensors_are_refused(tiny_model: Path) -> None:
    garbage = b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"
    tiny_model.write_bytes(garbage)
    meta = json.loads(metadata_path(tiny_model).read_text())
    metadata_path(tiny_model).write_text(json.dumps({**meta, "weights_sha256": hashlib.sha256(garbage).hexdigest()}))
    with pytest.raises(ArtifactError, match="not a valid safetensors file"):
        load_served(tiny_model)


def test_a_network_the_runtime_refuses_is_an_artifact_error(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever ONNX Runtime will not build reaches the loaders' callers (start-up, activation) as an
    ArtifactError with the reason, like every other refusal, not as a crash."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : the graph is not valid")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    with pytest.raises(ArtifactError, match="ONNX Runtime cannot run this network .*graph is not valid"):
        load_served(tiny_model)


def test_the_holder_serves_the_runtime_form_and_swaps_it(tmp_path: Path) -> None:
    holder = ModelHolder()
    first = holder.load(SERVED_MODEL)
    assert holder.current is first
    assert first.form == "float"
    second = load_served(write_tiny_artifact(tmp_path / "tiny.safetensors", arch="cnn"))
    assert holder.swap(second) is first
    assert holder.current is second


def test_a_serving_process_never_imports_torch(tmp_path: Path) -> None:
    """Start-up, a prediction and the model's description run without torch (~220 MiB, ~1 s) in memory."""
    script = textwrap.dedent(
        f"""
        import io, sys
        from fastapi.testclient import TestClient
        from PIL import Image
        from app.core.config import Settings
        from app.main import create_app

        settings = Settings(model={str(SERVED_MODEL)!r}, state_dir={str(tmp_path / "state")!r})
        image = Image.new("L", (28, 28))
        image.paste(255, (12, 4, 16, 24))  # a bar: a 1
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        with TestClient(create_app(settings)) as client:
            answer = client.post("/predict", files={{"file": ("d.png", buffer.getvalue(), "image/png")}})
            assert answer.status_code == 200, answer.text
            assert client.get("/model").status_code == 200
            print(answer.json()["digit"], sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    digit, modules = done.stdout.strip().split(" ", 1)
    assert digit == "1"
    assert modules == "[]"
