"""`digits`: predict, train and inspect on a digit-service server from the command line.

digits predict img.png [more.png ...]     # the server: --url, else $DIGITS_URL, else http://127.0.0.1:8000
digits train --arch cnn --epochs 2 --watch
digits model
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from digit_service.client import (
    DEFAULT_URL,
    Client,
    DigitServiceError,
    Epoch,
    JobState,
    Prediction,
    Progress,
    TrainingJob,
)

# The server takes at most DIGITS_MAX_FILES (default 64) images per request.
BATCH = 64
BAR_WIDTH = 30


def admin_token(given: str | None) -> str | None:
    """--token, else $DIGITS_ADMIN_TOKEN, else $DIGITS_ADMIN_TOKEN_FILE, else ${DIGITS_STATE_DIR:-state}/admin-token."""
    if given:
        return given
    if os.environ.get("DIGITS_ADMIN_TOKEN"):
        return os.environ["DIGITS_ADMIN_TOKEN"]
    candidates = [
        os.environ.get("DIGITS_ADMIN_TOKEN_FILE"),
        str(Path(os.environ.get("DIGITS_STATE_DIR", "state")) / "admin-token"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            try:
                return Path(candidate).read_text().strip() or None
            except OSError:
                continue
    return None


def describe(name: str, prediction: Prediction) -> str:
    if prediction.digit is None:
        return f"{name}: no digit ({prediction.reason})"
    return f"{name}: {prediction.digit} (confidence {prediction.confidence:.4f})"


def predict(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    paths = [Path(path) for path in args.images]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise DigitServiceError(0, f"no such file: {', '.join(missing)}")
    for start in range(0, len(paths), BATCH):
        chunk = paths[start : start + BATCH]
        predictions = (
            [client.predict(chunk[0], preprocess=args.preprocess)]
            if len(paths) == 1
            else client.predict_many(chunk, preprocess=args.preprocess)
        )
        for path, prediction in zip(chunk, predictions, strict=True):
            if args.json:
                out.write(json.dumps({"file": str(path), **asdict(prediction), "frame": None}) + "\n")
            else:
                out.write(describe(str(path), prediction) + "\n")
    return 0


def epoch_line(epoch: Epoch, total: int) -> str:
    return (
        f"epoch {epoch.epoch}/{total} train_loss={epoch.train_loss:.4f} train_acc={epoch.train_accuracy:.4f} "
        f"val_loss={epoch.val_loss:.4f} val_acc={epoch.val_accuracy:.4f} ({epoch.seconds:.1f}s)"
    )


def bar(progress: Progress) -> str:
    filled = BAR_WIDTH * progress.batch // max(1, progress.batches)
    return (
        f"\repoch {progress.epoch}/{progress.total_epochs} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
        f"{progress.batch}/{progress.batches}"
    )


def watch(job: TrainingJob, out: TextIO, err: TextIO) -> JobState:
    """Follow the job's event stream: a bar within each epoch (on a terminal), one line per epoch."""
    show_bar = err.isatty()
    total = job.last.total_epochs
    final = job.last
    for update in job.updates(with_progress=show_bar):
        if isinstance(update, Progress):
            err.write(bar(update))
            err.flush()
        elif isinstance(update, Epoch):
            if show_bar:
                err.write("\r" + " " * (BAR_WIDTH + 30) + "\r")
            out.write(epoch_line(update, total) + "\n")
            out.flush()
        else:
            final = update
    return final


def train(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    client.token = admin_token(args.token)
    job = client.train(
        arch=args.arch,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        train_limit=args.train_limit,
        activate=False if args.no_activate else None,
        force_activate=True if args.force_activate else None,
    )
    out.write(f"started job {job.id} ({job.last.status}): {args.arch}, {job.last.total_epochs} epochs\n")
    if not args.watch:
        out.write(f"follow it: digits job {job.id} --watch\n")
        return 0
    return report(watch(job, out, err), out)


def report(state: JobState, out: TextIO) -> int:
    if state.status == "succeeded":
        accuracy = f"{state.test_accuracy:.4f}" if state.test_accuracy is not None else "n/a"
        served = "now served" if state.activated else "not activated"
        out.write(f"job {state.id} succeeded: model {state.model_id}, test_accuracy={accuracy} ({served})\n")
        if not state.activated and state.activation_note:
            out.write(f"  {state.activation_note}\n")
        return 0
    out.write(f"job {state.id} {state.status}: {state.error}\n")
    return 1


def show_job(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    job = client.job(args.job_id)
    if args.watch:
        return report(watch(job, out, err), out)
    state = job.last
    out.write(f"job {state.id}: {state.status}, epoch {state.current_epoch}/{state.total_epochs}\n")
    for epoch in state.history:
        out.write(epoch_line(epoch, state.total_epochs) + "\n")
    return 0 if state.status != "failed" else 1


def cancel(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    client.token = admin_token(args.token)
    state = client.job(args.job_id).cancel()
    out.write(f"job {state.id}: {state.status}\n")
    return 0


def show_model(client: Client, out: TextIO) -> int:
    info = client.model()
    accuracy = f"{info.test_accuracy:.4f}" if info.test_accuracy is not None else "n/a"
    out.write(f"{info.id}: {info.architecture.get('name')} {info.architecture.get('kwargs', {})}\n")
    out.write(f"test_accuracy={accuracy}, {info.epochs} epochs, created {info.created}\n")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="digits", description="Use a digit-service server.")
    root.add_argument("--url", help=f"the server (default: $DIGITS_URL, else {DEFAULT_URL})")
    commands = root.add_subparsers(dest="command", required=True)

    p = commands.add_parser("predict", help="recognise the digit in each image")
    p.add_argument("images", nargs="+", help="image files (PNG, JPEG, HEIC, ...)")
    p.add_argument("--preprocess", choices=["auto", "mnist", "raw"], default="auto")
    p.add_argument("--json", action="store_true", help="one JSON object per image")

    t = commands.add_parser("train", help="start a training job on the server (admin token)")
    t.add_argument("--arch", choices=["mlp", "cnn", "compact"], default="mlp")
    t.add_argument("--epochs", type=int)
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--train-limit", type=int, help="train on the first N images only")
    t.add_argument("--no-activate", action="store_true", help="do not serve the model once trained")
    t.add_argument("--force-activate", action="store_true", help="serve it even if less accurate than the served model")
    t.add_argument("--watch", action="store_true", help="follow the job until it ends, with a progress bar")
    t.add_argument("--token", help="admin token (default: $DIGITS_ADMIN_TOKEN, else state/admin-token)")

    j = commands.add_parser("job", help="a training job's status")
    j.add_argument("job_id")
    j.add_argument("--watch", action="store_true", help="follow it until it ends")

    c = commands.add_parser("cancel", help="cancel a training job (admin token)")
    c.add_argument("job_id")
    c.add_argument("--token")

    commands.add_parser("model", help="the model being served")
    return root


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parser().parse_args(argv)
    try:
        with Client(args.url) as client:
            handlers: dict[str, Any] = {
                "predict": lambda: predict(client, args, out),
                "train": lambda: train(client, args, out, err),
                "job": lambda: show_job(client, args, out, err),
                "cancel": lambda: cancel(client, args, out),
                "model": lambda: show_model(client, out),
            }
            return int(handlers[args.command]())
    except DigitServiceError as exc:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        err.write(f"digits: {exc.status} {detail}\n" if exc.status else f"digits: {detail}\n")
        if exc.status == 401:
            err.write("digits: give the admin token with --token or DIGITS_ADMIN_TOKEN\n")
        return 1
    except KeyboardInterrupt:
        return 130
