from __future__ import annotations

import pytest
import torch

from training.config import MODEL_KWARGS
from training.models import CNN, MLP, build_model


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_output_is_logits_per_class(arch: str) -> None:
    model = build_model(arch, MODEL_KWARGS[arch]).eval()
    with torch.no_grad():
        logits = model(torch.zeros(4, 1, 28, 28))
    assert logits.shape == (4, 10)
    # Logits, not probabilities: softmax happens at inference time, outside the model.
    assert not torch.allclose(logits.sum(dim=1), torch.ones(4))


def test_mlp_is_the_tutorials_784_125_65_10() -> None:
    model = build_model("mlp", MODEL_KWARGS["mlp"])
    assert isinstance(model, MLP)
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(125, 784), (125,), (65, 125), (65,), (10, 65), (10,)]


def test_cnn_builds_from_kwargs() -> None:
    assert isinstance(build_model("cnn", MODEL_KWARGS["cnn"]), CNN)


def test_unknown_architecture_or_arguments() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet")
    with pytest.raises(ValueError, match="invalid arguments"):
        build_model("mlp", {"depth": 3})
