"""The training loop: plain functions, metrics returned, progress reported through callbacks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from training.augment import augment_batch
from training.calibration import DIGITS
from training.config import TrainConfig
from training.history import EpochMetrics
from training.mnist import MnistSplit
from training.models import build_model
from training.preprocessing import REFERENCE, Normalization, normalize


@dataclass(frozen=True)
class TrainResult:
    model: nn.Module
    history: list[EpochMetrics]
    test_loss: float
    test_accuracy: float
    train_fingerprint: str
    train_size: int
    val_size: int


EpochCallback = Callable[[EpochMetrics], None]
BatchCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Tensors:
    """A split decoded and normalised once, so epochs only index into it."""

    inputs: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def from_split(cls, split: MnistSplit, norm: Normalization = REFERENCE) -> Tensors:
        return cls(torch.from_numpy(normalize(split.images, norm)), torch.from_numpy(split.labels.astype("int64")))

    def __add__(self, other: Tensors) -> Tensors:
        return Tensors(torch.cat([self.inputs, other.inputs]), torch.cat([self.labels, other.labels]))

    def __len__(self) -> int:
        return len(self.labels)


def train_one_epoch(
    model: nn.Module,
    data: Tensors,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    augment: bool = False,
    on_batch_end: BatchCallback | None = None,
) -> tuple[float, float]:
    """One pass over shuffled batches; returns (mean loss per sample, accuracy) over the epoch."""
    model.train()
    order = torch.randperm(len(data), generator=generator)
    batches = math.ceil(len(data) / batch_size)
    loss_sum, correct = 0.0, 0
    for index in range(batches):
        picked = order[index * batch_size : (index + 1) * batch_size]
        inputs, labels = data.inputs[picked], data.labels[picked]
        if augment:
            inputs = augment_batch(inputs, generator)
        logits = model(inputs)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.item() * len(labels)
        correct += int((logits.argmax(dim=1) == labels).sum())
        if on_batch_end is not None:
            on_batch_end(index + 1, batches)
    return loss_sum / len(data), correct / len(data)


def evaluate(model: nn.Module, data: Tensors, batch_size: int = 1000) -> tuple[float, float]:
    """(mean cross-entropy per sample, accuracy) without touching gradients.

    Accuracy is of the digit read (the best of the ten digit outputs), as /predict answers it; a
    not-a-digit output, where the network has one, only counts through the loss.
    """
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            logits = model(data.inputs[start : start + batch_size])
            labels = data.labels[start : start + batch_size]
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += int((logits[:, :DIGITS].argmax(dim=1) == labels).sum())
    return loss_sum / max(len(data), 1), correct / max(len(data), 1)


def split_train_val(train: MnistSplit, config: TrainConfig) -> tuple[MnistSplit, MnistSplit | None]:
    """Hold out the last val_size training images (unless validating on test), then apply the limit."""
    if config.validate_on_test:
        fit_part, val_part = train, None
    else:
        if not 0 < config.val_size < len(train):
            raise ValueError(f"val_size must be between 1 and {len(train) - 1}, got {config.val_size}")
        cut = len(train) - config.val_size
        fit_part = MnistSplit(train.images[:cut], train.labels[:cut])
        val_part = MnistSplit(train.images[cut:], train.labels[cut:])
    if config.train_limit is not None:
        fit_part = fit_part.head(config.train_limit)
    return fit_part, val_part


def fit(
    config: TrainConfig,
    train: MnistSplit,
    test: MnistSplit,
    on_epoch_end: EpochCallback | None = None,
    on_batch_end: BatchCallback | None = None,
    extra: MnistSplit | None = None,
) -> TrainResult:
    """Train a fresh seeded model and evaluate it on the test split.

    EXTRA (framed renderings, non-digits labelled 10) joins the training images; validation and test
    stay plain MNIST.
    """
    torch.set_num_threads(max(1, config.threads))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    fit_split, val_split = split_train_val(train, config)
    fit_data, test_data = Tensors.from_split(fit_split), Tensors.from_split(test)
    if extra is not None:
        fit_data += Tensors.from_split(extra)
    val_data = Tensors.from_split(val_split) if val_split is not None else test_data
    model = build_model(config.arch, config.model_kwargs())
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = None
    if config.schedule == "cosine":
        steps = config.epochs * math.ceil(len(fit_data) / config.batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    history: list[EpochMetrics] = []
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        train_loss, train_accuracy = train_one_epoch(
            model, fit_data, optimizer, config.batch_size, generator, scheduler, config.augment, on_batch_end
        )
        val_loss, val_accuracy = evaluate(model, val_data)
        metrics = EpochMetrics(epoch, train_loss, train_accuracy, val_loss, val_accuracy, time.perf_counter() - started)
        history.append(metrics)
        if on_epoch_end is not None:
            on_epoch_end(metrics)
    test_loss, test_accuracy = evaluate(model, test_data)
    model.eval()
    return TrainResult(
        model=model,
        history=history,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        train_fingerprint=fit_split.fingerprint(),
        train_size=len(fit_split),
        val_size=len(val_split) if val_split is not None else 0,
    )
