"""Network definitions, rebuilt at load time from the (name, kwargs) stored in metadata."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class MLP(nn.Module):
    """The tutorial's fully connected network (784-125-65-10, ReLU), returning logits."""

    def __init__(
        self, in_features: int = 784, hidden: tuple[int, ...] | list[int] = (125, 65), classes: int = 10
    ) -> None:
        super().__init__()
        sizes = [in_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]


def _conv_block(fan_in: int, fan_out: int) -> list[nn.Module]:
    return [nn.Conv2d(fan_in, fan_out, 3, padding=1, bias=False), nn.BatchNorm2d(fan_out), nn.ReLU()]


class CNN(nn.Module):
    """Two conv-conv-pool stages and a small classifier: >99.3% on MNIST in a few CPU epochs."""

    def __init__(
        self,
        channels: tuple[int, int] | list[int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.3,
        classes: int = 10,
    ) -> None:
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            *_conv_block(1, c1),
            *_conv_block(c1, c1),
            nn.MaxPool2d(2),
            *_conv_block(c1, c2),
            *_conv_block(c2, c2),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(c2 * 7 * 7, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # type: ignore[no-any-return]


def _separable_block(fan_in: int, fan_out: int, stride: int) -> list[nn.Module]:
    """A depthwise 3x3 (spatial, one filter per channel) then a pointwise 1x1 (mixing channels)."""
    return [
        nn.Conv2d(fan_in, fan_in, 3, stride=stride, padding=1, groups=fan_in, bias=False),
        nn.BatchNorm2d(fan_in),
        nn.ReLU(),
        nn.Conv2d(fan_in, fan_out, 1, bias=False),
        nn.BatchNorm2d(fan_out),
        nn.ReLU(),
    ]


class Compact(nn.Module):
    """About a tenth of the cnn's arithmetic for the same job: full resolution only for a thin stem.

    A 3x3 stem at 28x28, then depthwise-separable blocks (strided to 14x14, one at 14x14, strided to
    7x7, one at 7x7) and global average pooling instead of a wide dense layer: about 3.8 MFLOP per
    image. Every convolution is followed by batch norm, which serving folds into it (training.optimize).
    """

    def __init__(
        self,
        channels: tuple[int, int, int, int, int] | list[int] = (16, 32, 64, 128, 112),
        dropout: float = 0.1,
        classes: int = 10,
        separable_down: bool = True,
    ) -> None:
        super().__init__()
        stem, down, mid, wide, last = channels
        # A full 3x3 stride-2 convolution is the costliest layer; a separable one frees most of its
        # arithmetic for wider layers further in.
        first_down = (
            _separable_block(stem, down, stride=2)
            if separable_down
            else [nn.Conv2d(stem, down, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(down), nn.ReLU()]
        )
        self.features = nn.Sequential(
            *_conv_block(1, stem),
            *first_down,
            *_separable_block(down, mid, stride=1),
            *_separable_block(mid, wide, stride=2),
            *_separable_block(wide, last, stride=1),
        )
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(last, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))  # type: ignore[no-any-return]


ARCHITECTURES: dict[str, type[nn.Module]] = {"mlp": MLP, "cnn": CNN, "compact": Compact}


def build_model(name: str, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """Instantiate an architecture by name; unknown names and arguments raise ValueError."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    try:
        return ARCHITECTURES[name](**(kwargs or {}))
    except TypeError as exc:
        raise ValueError(f"invalid arguments for {name}: {exc}") from exc
