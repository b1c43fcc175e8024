"""Floating-point operations a model spends on one image, counted from a real forward pass.

Hooks on the modules that run (rather than a formula per architecture) keep the count right for any
network built from Conv2d and Linear layers, whatever the nesting, strides, padding or groups.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


def _multiply_adds(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-adds of one call: each output value is a dot product over the inputs it sees."""
    if isinstance(module, nn.Conv2d):
        kernel_h, kernel_w = module.kernel_size
        # With groups, each output channel sees in_channels / groups input channels (1 if depthwise).
        return output.numel() * (module.in_channels // module.groups) * kernel_h * kernel_w
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def flops_per_image(model: nn.Module, size: int = 28) -> int:
    """Floating-point operations of one (1, 1, SIZE, SIZE) image: 2 per multiply-add of Conv2d and Linear.

    Only Conv2d and Linear are counted, as multiply-adds x 2; their bias additions, BatchNorm, ReLU,
    pooling, dropout and the softmax are ignored: together they are a few per cent at most of a
    network's operations (and BatchNorm vanishes when folded into its convolution at serving time).
    The model runs once in eval mode (so BatchNorm's running statistics are not touched) and is
    left in the mode it had.
    """
    total = 0

    def count(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        total += _multiply_adds(module, output)

    handles: list[RemovableHandle] = [
        module.register_forward_hook(count) for module in model.modules() if isinstance(module, nn.Conv2d | nn.Linear)
    ]
    was_training = model.training
    try:
        model.eval()
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        with torch.inference_mode():
            model(torch.zeros(1, 1, size, size, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return 2 * total


def mflops_per_image(model: nn.Module, size: int = 28) -> float:
    """flops_per_image in millions (MFLOP), the unit the issue's budget is written in."""
    return flops_per_image(model, size) / 1e6
