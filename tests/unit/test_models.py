from __future__ import annotations

import pytest
import torch

from training.config import MODEL_KWARGS
from training.models import CNN, MLP, build_model


@pytest.mark.parametrize("arch", ["mlp", "cnn", "compact"])
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


def test_compact_has_the_not_a_digit_output_when_asked_and_a_stem_thinner_than_the_cnns() -> None:
    model = build_model("compact", {**MODEL_KWARGS["compact"], "classes": 11}).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 11)
    # Only the stem runs at 28x28; everything after it is at 14x14 or 7x7.
    full_resolution = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (1, 1)]
    assert full_resolution[0].out_channels < MODEL_KWARGS["cnn"]["channels"][0]
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in build_model("cnn").parameters()) / 10
