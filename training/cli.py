"""Command line: `python -m training train ...` and `python -m training evaluate MODEL`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from training import calibrate_cli, quantize_cli, realworld
from training.artifact_format import ArtifactError
from training.artifacts import load_artifact
from training.config import TrainConfig
from training.history import EpochMetrics
from training.loop import Tensors, evaluate
from training.mnist import MnistError, download, load_split
from training.synth import cli as synth_cli

log = logging.getLogger("training")
DEFAULT_DATA_DIR = Path(os.environ.get("DIGITS_DATA_DIR", "../shared/data/mnist"))


class ProgressBar:
    """A one-line bar per epoch on stderr, only when stderr is a terminal."""

    def __init__(self, epoch_of: list[int], total_epochs: int) -> None:
        self.epoch_of, self.total_epochs = epoch_of, total_epochs
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or (done % 10 and done != total):
            return
        filled = 30 * done // total
        sys.stderr.write(
            f"\repoch {self.epoch_of[0]}/{self.total_epochs} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}"
        )
        if done == total:
            sys.stderr.write("\r" + " " * 70 + "\r")
        sys.stderr.flush()


def _train(args: argparse.Namespace) -> int:
    config = TrainConfig.for_arch(
        args.arch,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        schedule=args.schedule,
        train_limit=args.train_limit,
        validate_on_test=args.validate_on_test or None,
        augment=args.augment or None,
        rendered=args.rendered,
        nondigits=args.nondigits,
        teacher=str(args.teacher) if args.teacher else None,
        distill_weight=args.distill_weight,
        distill_temperature=args.distill_temperature,
        ema=args.ema,
        init=str(args.init) if args.init else None,
        threads=args.threads,
    )
    if args.download:
        args.data_dir = download(args.data_dir)
    # Never models/ by default: a smoke run must not overwrite the committed, served weights.
    out: Path = args.out or Path("runs") / f"{config.arch}-{time.strftime('%Y%m%dT%H%M%S')}.safetensors"
    epoch_of = [1]

    def report(metrics: EpochMetrics) -> None:
        epoch_of[0] = metrics.epoch + 1
        log.info(
            "epoch %d/%d train_loss=%.4f train_acc=%.4f val_loss=%.4f val_acc=%.4f (%.1fs)",
            metrics.epoch,
            config.epochs,
            metrics.train_loss,
            metrics.train_accuracy,
            metrics.val_loss,
            metrics.val_accuracy,
            metrics.seconds,
        )

    from training.run import run_training  # keeps `evaluate` free of matplotlib

    started = time.perf_counter()
    metadata = run_training(config, args.data_dir, out, report, ProgressBar(epoch_of, config.epochs))
    log.info(
        "wrote %s (id %s): test_accuracy=%.4f test_loss=%.4f in %.1fs",
        out,
        metadata["id"],
        metadata["test"]["accuracy"],
        metadata["test"]["loss"],
        time.perf_counter() - started,
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    loaded = load_artifact(args.model)
    test = Tensors.from_split(load_split(args.data_dir, "test"), loaded.normalization)
    loss, accuracy = evaluate(loaded.model, test)
    log.info("%s: test_accuracy=%.4f test_loss=%.4f on %d images", loaded.id, accuracy, loss, len(test))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="Train and evaluate MNIST models.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model and write its artifact")
    train.add_argument("--arch", choices=["mlp", "cnn", "compact"], default="mlp")
    train.add_argument("--epochs", type=int, help="default: 15 (mlp), 8 (cnn)")
    train.add_argument("--lr", type=float, help="Adam learning rate; default: 1e-4 (mlp), 2e-3 (cnn)")
    train.add_argument("--batch-size", type=int, help="default: 100 (mlp), 128 (cnn)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--schedule", choices=["constant", "cosine"], help="learning-rate schedule")
    train.add_argument("--train-limit", type=int, metavar="N", help="train on the first N images only")
    train.add_argument("--validate-on-test", action="store_true", help="validate on the test split (tutorial)")
    train.add_argument("--augment", action="store_true", help="random shifts, rotations, scale, stroke width")
    train.add_argument(
        "--rendered", type=int, metavar="N", help="also train on N training digits drawn and framed as uploads are"
    )
    train.add_argument("--nondigits", type=int, metavar="N", help="and on N generated non-digits (an 11th class)")
    train.add_argument("--teacher", type=Path, help="distil this artifact's answers on the MNIST digits (.safetensors)")
    train.add_argument("--distill-weight", type=float, help="share of the teacher's term in the loss (default 0.5)")
    train.add_argument("--distill-temperature", type=float, help="softening of both networks' answers (default 3)")
    train.add_argument("--ema", type=float, metavar="DECAY", help="keep a moving average of the weights (e.g. 0.999)")
    train.add_argument("--init", type=Path, help="start from this artifact's weights (same architecture and settings)")
    train.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    train.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    train.add_argument("--download", action="store_true", help="fetch MNIST into --data-dir first (online)")
    train.add_argument("--out", type=Path, help="artifact path (.safetensors); default runs/ARCH-TIME.safetensors")
    train.set_defaults(handler=_train)
    evaluate_cmd = commands.add_parser("evaluate", help="print an artifact's accuracy on the test split")
    evaluate_cmd.add_argument("model", type=Path)
    evaluate_cmd.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    evaluate_cmd.set_defaults(handler=_evaluate)
    realworld.add_command(commands, DEFAULT_DATA_DIR)
    calibrate_cli.add_command(commands, DEFAULT_DATA_DIR)
    synth_cli.add_command(commands, DEFAULT_DATA_DIR)
    quantize_cli.add_command(commands, DEFAULT_DATA_DIR)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0].startswith("-") and arguments[0] not in ("-h", "--help"):
        arguments.insert(0, "train")  # `python -m training --arch cnn` trains
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(arguments)
    try:
        return int(args.handler(args))
    except (MnistError, ArtifactError, ValueError) as exc:
        log.error("error: %s", exc)
        return 2
