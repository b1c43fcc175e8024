"""Batch augmentation on normalised tensors: small affine jitter and stroke-width changes.

Real uploads are framed into MNIST's layout but never land exactly like MNIST digits do; a little
jitter in training makes the model tolerant of that. Vectorised over the batch, seeded by the
loop's generator so runs stay reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812

from training.preprocessing import REFERENCE

MAX_ROTATION_DEGREES = 12.0
SCALE_RANGE = (0.85, 1.1)
MAX_SHIFT_PIXELS = 2.0
STROKE_CHANGE_PROBABILITY = 0.3


def _uniform(count: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(count, generator=generator) * (high - low) + low


def augment_batch(inputs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Randomly rotate, scale, shift and thicken/thin each (N, 1, 28, 28) image."""
    count, size = inputs.shape[0], inputs.shape[-1]
    background = (0.0 - REFERENCE.mean) / REFERENCE.std
    angle = _uniform(count, -MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES, generator) * (math.pi / 180)
    scale = _uniform(count, *SCALE_RANGE, generator)
    shift = _uniform(2 * count, -MAX_SHIFT_PIXELS, MAX_SHIFT_PIXELS, generator).view(count, 2) * (2 / size)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(inputs.shape), align_corners=False)
    # grid_sample pads with zeros, so sample the offset from the background and add it back.
    moved = F.grid_sample(inputs - background, grid, align_corners=False, padding_mode="zeros") + background
    choice = torch.rand(count, generator=generator)
    thicker = (choice < STROKE_CHANGE_PROBABILITY / 2).view(count, 1, 1, 1)
    thinner = ((choice >= STROKE_CHANGE_PROBABILITY / 2) & (choice < STROKE_CHANGE_PROBABILITY)).view(count, 1, 1, 1)
    dilated = F.max_pool2d(moved, 3, stride=1, padding=1)
    # A full 3x3 erosion deletes MNIST's 2-3 px strokes; half of it thins them visibly.
    eroded = (moved - F.max_pool2d(-moved, 3, stride=1, padding=1)) / 2
    return torch.where(thicker, dilated, torch.where(thinner, eroded, moved))
