"""`python -m training bank`: build a training bank from MNIST training digits and look at it."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from training.mnist import load_split
from training.synth.bank import build_bank_detailed, save_bank
from training.synth.sheet import write_sheet

log = logging.getLogger("training")


def _bank(args: argparse.Namespace) -> int:
    if args.limit < 0 or args.nondigits < 0 or args.processes < 1:
        raise ValueError("--limit and --nondigits must be >= 0 and --processes >= 1")
    train = load_split(args.data_dir, "train").head(args.limit)
    started = time.perf_counter()
    bank = build_bank_detailed(train.images, train.labels, args.nondigits, args.seed, args.processes)
    seconds = time.perf_counter() - started
    total = len(train) + args.nondigits
    log.info(
        "bank: %d of %d images kept in %.1fs (%.0f images/s with %d processes)",
        len(bank),
        total,
        seconds,
        total / max(seconds, 1e-9),
        args.processes,
    )
    for style, rate in bank.drop_rates().items():
        log.info(
            "  %-20s rendered %5d  blank (dropped) %5.1f%%  lone stroke (dropped) %d",
            style,
            bank.rendered[style],
            100 * rate,
            bank.lookalikes.get(style, 0),
        )
    if args.out is not None:
        save_bank(bank, args.out)
        log.info("wrote %s", args.out)
    if args.sheet is not None:
        write_sheet(args.sheet, train.images, args.nondigits, args.seed)
        log.info("wrote %s", args.sheet)
    return 0


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], data_dir: Path) -> None:
    """Register `bank` on the training CLI."""
    cmd = commands.add_parser("bank", help="render MNIST training digits and non-digits as uploads, framed as served")
    cmd.add_argument("--limit", type=int, default=1000, metavar="N", help="the first N training digits")
    cmd.add_argument("--nondigits", type=int, default=100, metavar="M", help="non-digit images (label 10)")
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--processes", type=int, default=1)
    cmd.add_argument("--out", type=Path, help="write the bank here (.npz)")
    cmd.add_argument("--sheet", type=Path, help="write a contact sheet of inputs and frames per style (.png)")
    cmd.add_argument("--data-dir", type=Path, default=data_dir, help="MNIST directory (its train split is used)")
    cmd.set_defaults(handler=_bank)
