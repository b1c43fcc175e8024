"""Loss and accuracy curves per epoch, as the tutorial draws them, saved as PNG."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from training.history import EpochMetrics


def render_history_png(history: Sequence[EpochMetrics], title: str = "") -> bytes:
    """Two panels (loss, accuracy), train vs validation, as PNG bytes."""
    import matplotlib  # imported lazily: serving predictions never needs matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    epochs = [m.epoch for m in history]
    figure = Figure(figsize=(10, 4), dpi=100)
    loss_ax, acc_ax = figure.subplots(1, 2)
    loss_ax.plot(epochs, [m.train_loss for m in history], marker="o", label="training loss")
    loss_ax.plot(epochs, [m.val_loss for m in history], marker="o", label="validation loss")
    acc_ax.plot(epochs, [m.train_accuracy for m in history], marker="o", label="training accuracy")
    acc_ax.plot(epochs, [m.val_accuracy for m in history], marker="o", label="validation accuracy")
    for axis, label in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_path(weights_path: Path) -> Path:
    return weights_path.with_suffix(".png")
