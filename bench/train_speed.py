"""Seconds per training epoch of the mlp: the tutorial's input pipeline vs this package's.

Tutorial: torchvision MNIST + per-sample Compose(Resize, ToTensor, Normalize) + DataLoader(batch 100).
Ours: decoded and normalised once, batches taken by shuffled index (training.loop). Same model, loss,
optimiser, batch size and thread count; accuracy is printed for both so the speed-up is at equal
accuracy. Run: python -m bench.train_speed [--epochs 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import gzip
import logging
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812

from training.config import MODEL_KWARGS, TrainConfig
from training.loop import fit
from training.mnist import FILES, load_split, locate
from training.models import build_model

log = logging.getLogger("bench.train_speed")


def _torchvision_root(data_dir: Path, root: Path) -> Path:
    """torchvision's MNIST reads uncompressed files from ROOT/MNIST/raw; lay them out there."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stems in FILES.values():
        for stem in stems:
            source = locate(data_dir, stem)
            opener = gzip.open if source.suffix == ".gz" else open
            with opener(source, "rb") as src, (raw / stem).open("wb") as dst:
                shutil.copyfileobj(src, dst)
    return root


def tutorial_pipeline(data_dir: Path, epochs: int, lr: float, seed: int) -> tuple[list[float], float]:
    """The tutorial's loop (with its bugs fixed: logits into the loss, accuracy over samples)."""
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [transforms.Resize((28, 28)), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = _torchvision_root(data_dir, Path(tmp))
        train_set = datasets.MNIST(root=str(root), train=True, download=False, transform=transform)
        test_set = datasets.MNIST(root=str(root), train=False, download=False, transform=transform)
        torch.manual_seed(seed)
        train_loader = torch.utils.data.DataLoader(train_set, batch_size=100, shuffle=True)
        test_loader = torch.utils.data.DataLoader(test_set, batch_size=100, shuffle=False)
        model = build_model("mlp", MODEL_KWARGS["mlp"])
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        seconds = []
        for _ in range(epochs):
            started = time.perf_counter()
            model.train()
            for inputs, labels in train_loader:
                loss = F.cross_entropy(model(inputs), labels)
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
            seconds.append(time.perf_counter() - started)
        model.eval()
        correct = 0
        with torch.no_grad():
            for inputs, labels in test_loader:
                correct += int((model(inputs).argmax(1) == labels).sum())
        return seconds, correct / len(test_set)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/mnist"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4, help="tutorial's learning rate")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)

    tutorial_seconds, tutorial_accuracy = tutorial_pipeline(args.data_dir, args.epochs, args.lr, args.seed)
    # Same 60k training images as the tutorial (it validates on test), same batch and learning rate.
    config = TrainConfig.for_arch(
        "mlp", epochs=args.epochs, learning_rate=args.lr, seed=args.seed, validate_on_test=True, threads=args.threads
    )
    result = fit(config, load_split(args.data_dir, "train"), load_split(args.data_dir, "test"))
    ours_seconds = [m.seconds for m in result.history]
    tutorial_mean = sum(tutorial_seconds) / len(tutorial_seconds)
    ours_mean = sum(ours_seconds) / len(ours_seconds)
    log.info("epochs=%d batch=100 lr=%g threads=%d", args.epochs, args.lr, args.threads)
    log.info("tutorial pipeline: %.2f s/epoch  test_accuracy=%.4f", tutorial_mean, tutorial_accuracy)
    log.info("this package:      %.2f s/epoch  test_accuracy=%.4f", ours_mean, result.test_accuracy)
    log.info("speed-up: %.1fx", tutorial_mean / ours_mean)


if __name__ == "__main__":
    main()
