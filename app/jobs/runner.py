"""The training process, `python -m app.jobs.runner FD SPEC_JSON`: trains and reports each epoch on FD.

Messages are JSON lines on a pipe of their own (not stdout, which libraries may write to):
{"event": "started"}, {"event": "epoch", "metrics": {...}}, then {"event": "done", ...} or {"event": "error", ...}.
Nothing heavy is imported at module level, so the priority and thread limits apply before torch loads.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from training.config import Arch

log = logging.getLogger("app.jobs.runner")

# Training yields the CPU to request threads: a nice process only gets cores the server leaves idle.
NICENESS = 10


@dataclass(frozen=True)
class JobSpec:
    """Everything the child needs, as plain JSON-able values; paths are absolute."""

    job_id: str
    model_id: str
    arch: Arch
    epochs: int
    learning_rate: float
    batch_size: int
    seed: int
    train_limit: int | None
    threads: int
    data_dir: str
    out: str
    progress: str = ""  # where to write progress within an epoch (app.jobs.progress); "" for nowhere
    rendered: int = 0
    nondigits: int = 0
    cache_dir: str = ""  # where framed renderings are kept between jobs; "" for training's default

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _exit_with_parent() -> None:
    """If the server dies (even by SIGKILL), stop training rather than run on as an orphan."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _public_error(exc: Exception) -> str:
    """A message safe to show to anyone reading the job: the traceback and paths stay in the server log."""
    from training.mnist import MnistError

    if isinstance(exc, MnistError):
        return "the training data (DIGITS_DATA_DIR) is missing or unreadable; see the server log"
    if isinstance(exc, MemoryError):
        return "training ran out of memory"
    return "training failed with an internal error; see the server log"


def run(spec: JobSpec, channel: IO[str]) -> None:
    """Train, writing one JSON line per event to CHANNEL."""

    def send(event: str, **payload: Any) -> None:
        try:
            channel.write(json.dumps({"event": event, **payload}) + "\n")
            channel.flush()
        except BrokenPipeError:
            log.warning("training job %s: the server is gone; stopping", spec.job_id)
            os._exit(3)  # nobody is left to record the outcome; the next server start marks the job failed

    os.environ["OMP_NUM_THREADS"] = str(spec.threads)
    import torch

    from app.jobs.progress import ProgressWriter
    from training.config import TrainConfig
    from training.history import EpochMetrics
    from training.run import run_training

    torch.set_num_interop_threads(1)
    config = TrainConfig.for_arch(
        spec.arch,
        epochs=spec.epochs,
        learning_rate=spec.learning_rate,
        batch_size=spec.batch_size,
        seed=spec.seed,
        train_limit=spec.train_limit,
        rendered=spec.rendered,
        nondigits=spec.nondigits,
        threads=spec.threads,
    )
    send("started")

    progress = ProgressWriter(Path(spec.progress)) if spec.progress else None

    def on_epoch_end(metrics: EpochMetrics) -> None:
        if progress is not None:
            progress.epoch_ended(metrics.epoch)
        send("epoch", metrics=metrics.to_dict())

    try:
        meta = run_training(
            config,
            Path(spec.data_dir),
            Path(spec.out),
            on_epoch_end=on_epoch_end,
            on_batch_end=progress,
            model_id=spec.model_id,
            cache_dir=Path(spec.cache_dir) if spec.cache_dir else None,
        )
    except Exception as exc:
        log.exception("training job %s failed", spec.job_id)
        send("error", message=_public_error(exc))
    else:
        send("done", model_id=meta["id"], test_accuracy=meta["test"]["accuracy"])
    finally:
        if progress is not None:
            progress.remove()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _exit_with_parent()
    if hasattr(os, "nice"):
        os.nice(NICENESS)
    fd, spec = int(argv[0]), JobSpec(**json.loads(argv[1]))
    with os.fdopen(fd, "w") as channel:
        run(spec, channel)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
