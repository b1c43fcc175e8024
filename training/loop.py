"""The training loop: plain functions, metrics returned, progress reported through callbacks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

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
    """A split decoded and normalised once, so epochs only index into it.

    SOFT, when distilling, holds a teacher's ten digit logits per row; rows it has no answer for are NaN.
    """

    inputs: torch.Tensor
    labels: torch.Tensor
    soft: torch.Tensor | None = None

    @classmethod
    def from_split(cls, split: MnistSplit, norm: Normalization = REFERENCE) -> Tensors:
        return cls(torch.from_numpy(normalize(split.images, norm)), torch.from_numpy(split.labels.astype("int64")))

    def soft_or_unknown(self) -> torch.Tensor:
        return self.soft if self.soft is not None else torch.full((len(self), DIGITS), math.nan)

    def __add__(self, other: Tensors) -> Tensors:
        soft = None
        if self.soft is not None or other.soft is not None:
            soft = torch.cat([self.soft_or_unknown(), other.soft_or_unknown()])
        return Tensors(torch.cat([self.inputs, other.inputs]), torch.cat([self.labels, other.labels]), soft)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Distillation:
    weight: float
    temperature: float


def teacher_logits(teacher: nn.Module, inputs: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The teacher's digit logits, once, on the un-augmented images: running it on every augmented
    batch would cost several times the student's own training."""
    teacher.eval()
    with torch.inference_mode():
        parts = [teacher(inputs[start : start + batch_size])[:, :DIGITS] for start in range(0, len(inputs), batch_size)]
    return torch.cat(parts) if parts else torch.empty((0, DIGITS))


def training_loss(
    logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor | None, distillation: Distillation | None
) -> torch.Tensor:
    """Cross-entropy, blended per row with the KL divergence from the teacher's softened digit answers
    where the row has one (Hinton et al.'s T-squared scaling keeps the two terms comparable)."""
    hard = F.cross_entropy(logits, labels, reduction="none")
    if soft is None or distillation is None:
        return hard.mean()
    known = ~torch.isnan(soft[:, 0])
    temperature = distillation.temperature
    target = F.softmax(torch.nan_to_num(soft) / temperature, dim=1)
    student = F.log_softmax(logits[:, :DIGITS] / temperature, dim=1)
    divergence = (target * (torch.log(target.clamp_min(1e-12)) - student)).sum(dim=1) * temperature**2
    blended = (1 - distillation.weight) * hard + distillation.weight * divergence
    return torch.where(known, blended, hard).mean()


def train_one_epoch(
    model: nn.Module,
    data: Tensors,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    augment: bool = False,
    on_batch_end: BatchCallback | None = None,
    distillation: Distillation | None = None,
    averaged: AveragedModel | None = None,
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
        soft = data.soft[picked] if data.soft is not None else None
        loss = training_loss(logits, labels, soft, distillation)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if averaged is not None:
            averaged.update_parameters(model)
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
    teacher: nn.Module | None = None,
    start: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train a fresh seeded model and evaluate it on the test split.

    EXTRA (framed renderings, non-digits labelled 10) joins the training images; validation and test
    stay plain MNIST. TEACHER's answers on the MNIST training digits are distilled into the model with
    the config's weight and temperature. START (a state dict) replaces the fresh initialisation.
    """
    torch.set_num_threads(max(1, config.threads))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    fit_split, val_split = split_train_val(train, config)
    fit_data, test_data = Tensors.from_split(fit_split), Tensors.from_split(test)
    distillation = None
    if teacher is not None:
        fit_data = Tensors(fit_data.inputs, fit_data.labels, teacher_logits(teacher, fit_data.inputs))
        distillation = Distillation(config.distill_weight, config.distill_temperature)
    if extra is not None:
        fit_data += Tensors.from_split(extra)
    val_data = Tensors.from_split(val_split) if val_split is not None else test_data
    model = build_model(config.arch, config.model_kwargs())
    if start is not None:
        model.load_state_dict(start)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = None
    if config.schedule == "cosine":
        steps = config.epochs * math.ceil(len(fit_data) / config.batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    averaged = None
    if config.ema is not None:
        # Batch norm's running statistics are averaged with the weights they were measured for.
        ema = get_ema_multi_avg_fn(config.ema)  # type: ignore[no-untyped-call]
        averaged = AveragedModel(model, multi_avg_fn=ema, use_buffers=True)
    answering = averaged.module if averaged is not None else model
    history: list[EpochMetrics] = []
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        train_loss, train_accuracy = train_one_epoch(
            model,
            fit_data,
            optimizer,
            config.batch_size,
            generator,
            scheduler,
            config.augment,
            on_batch_end,
            distillation,
            averaged,
        )
        val_loss, val_accuracy = evaluate(answering, val_data)
        metrics = EpochMetrics(epoch, train_loss, train_accuracy, val_loss, val_accuracy, time.perf_counter() - started)
        history.append(metrics)
        if on_epoch_end is not None:
            on_epoch_end(metrics)
    test_loss, test_accuracy = evaluate(answering, test_data)
    answering.eval()
    return TrainResult(
        model=answering,
        history=history,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        train_fingerprint=fit_split.fingerprint(),
        train_size=len(fit_split),
        val_size=len(val_split) if val_split is not None else 0,
    )
