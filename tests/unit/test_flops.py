"""FLOP counts against hand-computed multiply-adds (x2) of Conv2d and Linear layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from training.config import MODEL_KWARGS
from training.flops import flops_per_image, mflops_per_image
from training.models import build_model

# 784-125-65-10: one multiply-add per weight.
MLP_MULTIPLY_ADDS = 784 * 125 + 125 * 65 + 65 * 10  # 106,775
# Output values x (in_channels / groups) x 3 x 3 per conv; the classifier's two Linear layers.
CNN_MULTIPLY_ADDS = (
    28 * 28 * 32 * 1 * 9  # conv 1 -> 32 at 28x28
    + 28 * 28 * 32 * 32 * 9  # conv 32 -> 32 at 28x28
    + 14 * 14 * 64 * 32 * 9  # conv 32 -> 64 at 14x14 (after the first 2x2 pool)
    + 14 * 14 * 64 * 64 * 9  # conv 64 -> 64 at 14x14
    + 64 * 7 * 7 * 128  # Linear 3136 -> 128
    + 128 * 10  # Linear 128 -> 10
)  # 18,691,840

# The compact architecture's default (16, 32, 64, 128, 112): a stem at 28x28, then four
# depthwise-separable blocks (depthwise 3x3: one input channel per output channel).
COMPACT_MULTIPLY_ADDS = (
    28 * 28 * 16 * 1 * 9  # stem 1 -> 16
    + 14 * 14 * 16 * 9  # depthwise 16, strided to 14x14
    + 14 * 14 * 32 * 16  # pointwise 16 -> 32
    + 14 * 14 * 32 * 9  # depthwise 32 at 14x14
    + 14 * 14 * 64 * 32  # pointwise 32 -> 64
    + 7 * 7 * 64 * 9  # depthwise 64, strided to 7x7
    + 7 * 7 * 128 * 64  # pointwise 64 -> 128
    + 7 * 7 * 128 * 9  # depthwise 128 at 7x7
    + 7 * 7 * 112 * 128  # pointwise 128 -> 112
    + 112 * 10  # Linear after global pooling
)  # 1,888,992


def toy_depthwise() -> nn.Module:
    """Full conv, depthwise strided conv, pointwise conv, global pooling, Linear to 11 outputs."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False),  # 28*28*8 outputs x 1*9
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),  # 14*14*8 outputs x 1*9 (depthwise)
        nn.ReLU(),
        nn.Conv2d(8, 16, 1),  # 14*14*16 outputs x 8
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 11),  # 11 outputs x 16
    )


TOY_MULTIPLY_ADDS = 28 * 28 * 8 * 9 + 14 * 14 * 8 * 9 + 14 * 14 * 16 * 8 + 11 * 16  # 95,824


@pytest.mark.parametrize(
    ("arch", "multiply_adds"),
    [("mlp", MLP_MULTIPLY_ADDS), ("cnn", CNN_MULTIPLY_ADDS), ("compact", COMPACT_MULTIPLY_ADDS)],
)
def test_existing_architectures(arch: str, multiply_adds: int) -> None:
    model = build_model(arch, MODEL_KWARGS[arch])
    assert flops_per_image(model) == 2 * multiply_adds
    assert mflops_per_image(model) == pytest.approx(2 * multiply_adds / 1e6)


def test_the_figures_the_issue_quotes() -> None:
    assert flops_per_image(build_model("mlp", MODEL_KWARGS["mlp"])) == 213_550  # ~0.2 MFLOP
    assert flops_per_image(build_model("cnn", MODEL_KWARGS["cnn"])) == 37_383_680  # ~37 MFLOP
    assert flops_per_image(build_model("compact", MODEL_KWARGS["compact"])) == 3_777_984  # within 4 MFLOP
    # An eleventh (not-a-digit) output adds one row of 112 multiply-adds to the last layer.
    eleven = {**MODEL_KWARGS["compact"], "classes": 11}
    assert flops_per_image(build_model("compact", eleven)) == 3_777_984 + 2 * 112


def test_groups_divide_a_convolutions_inputs() -> None:
    assert flops_per_image(toy_depthwise()) == 2 * TOY_MULTIPLY_ADDS == 191_648
    # Were groups ignored, the depthwise conv alone would count 8x: 14*14*8*8*9 multiply-adds.
    assert flops_per_image(toy_depthwise()) != 2 * (TOY_MULTIPLY_ADDS - 14 * 14 * 8 * 9 + 14 * 14 * 8 * 8 * 9)


def test_other_input_sizes_scale_the_convolutions() -> None:
    conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1))
    assert flops_per_image(conv, size=10) == 2 * 10 * 10 * 4 * 9


def test_counting_leaves_the_model_as_it_was() -> None:
    model = toy_depthwise().train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    flops_per_image(model)
    assert model.training  # mode restored
    for name, tensor in model.state_dict().items():  # BatchNorm ran in eval mode: statistics untouched
        assert torch.equal(tensor, before[name]), name
    hooks = [m for m in model.modules() if m._forward_hooks]
    assert hooks == []  # no hook left behind to count (and slow) later passes


def test_hooks_are_removed_when_the_forward_pass_fails() -> None:
    model = nn.Sequential(nn.Linear(5, 3))  # expects 5 features, gets a 28x28 image
    with pytest.raises(RuntimeError):
        flops_per_image(model)
    assert not model[0]._forward_hooks
    assert model.training


def test_a_model_without_parameters_counts_zero() -> None:
    assert flops_per_image(nn.Sequential(nn.Flatten(), nn.ReLU())) == 0
