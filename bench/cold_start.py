"""Cold start and resident memory of `python -m app`, per artifact and interpreter.

For each artifact, RUNS times: start `python -m app` (DIGITS_MODEL set to it, a state directory, a
free port) and time from the process's start to the first 200 answer of POST /predict
with scripts/samples/digit-7.png (field `file`), polling every 10 ms; then send REQUESTS more and
read VmRSS: summed over the process tree, and of the largest serving process, whose Pss (its share of
pages it shares with other processes, such as the workers' common libraries) and Private (what only
it holds, what each more worker adds) come from /proc/PID/smaps_rollup. Prints each run, the median
per artifact, and the load average (timings on a busy machine run long).

`--state new` (the default) gives each run an empty state directory: the first start ever, which
creates and migrates the job database. `--state existing` gives all runs of an artifact one state
directory, prepared by an unmeasured start: a restart or another replica, the usual case.

`--python` chooses the interpreter: the serving venv (.venv-serve, CPU torch) is what the image
runs; its absence is said, and the current interpreter is used.

    python -m bench.cold_start [--model models/compact.safetensors ...] [--python .venv-serve/bin/python]
        [--workers 1] [--runs 3] [--requests 200] [--state new|existing]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.local import descendants, free_port, stop
from bench.throughput import rss_mib, serving_rss

ROOT = Path(__file__).resolve().parents[1]
SERVE_PYTHON = ROOT / ".venv-serve" / "bin" / "python"
log = logging.getLogger("bench.cold_start")


@dataclass(frozen=True)
class Run:
    seconds_to_first_200: float
    tree_rss_mib: float  # every process of the server together
    serving_rss_mib: float  # the largest process that answers requests
    serving_pss_mib: float  # ... its proportional share of its pages
    serving_private_mib: float  # ... the pages no other process shares


def first_200(client: httpx.Client, url: str, png: bytes, process: subprocess.Popen[bytes], deadline: float) -> None:
    """Post until the server answers 200; refused connections mean it is not listening yet."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        try:
            response = client.post(url, files={"file": ("digit-7.png", png, "image/png")})
        except httpx.TransportError:
            time.sleep(0.01)
            continue
        if response.status_code == 200:
            return
        if response.status_code != 503:  # 503: up, model not loaded yet
            raise RuntimeError(f"first answer {response.status_code}: {response.text[:200]}")
        time.sleep(0.01)
    raise RuntimeError("no 200 within the time limit")


def serving_pid(pid: int) -> int:
    """The largest process that answers requests (as serving_rss chooses it)."""
    tree = descendants(pid)
    serving = tree[1:] if len(tree) > 1 else tree
    return max(serving, key=rss_mib)


def pss_and_private_mib(pid: int) -> tuple[float, float]:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value)
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields.get("Pss", 0) / 1024, private / 1024


def one_run(python: str, model: Path, png: bytes, workers: int, requests: int, state: Path) -> Run:
    port = free_port()
    url = f"http://127.0.0.1:{port}/predict"
    with tempfile.TemporaryFile() as output:
        env = {
            **os.environ,
            "DIGITS_MODEL": str(model),
            "DIGITS_STATE_DIR": str(state),
            "DIGITS_PORT": str(port),
            "DIGITS_WORKERS": str(workers),
        }
        with httpx.Client(timeout=30) as client:
            start = time.monotonic()
            process = subprocess.Popen(
                [python, "-m", "app"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
            try:
                try:
                    first_200(client, url, png, process, start + 120)
                except RuntimeError:
                    output.seek(0)
                    log.error("%s", output.read().decode(errors="replace")[-2000:])
                    raise
                elapsed = time.monotonic() - start
                for _ in range(requests):
                    client.post(url, files={"file": ("digit-7.png", png, "image/png")}).raise_for_status()
                tree = sum(rss_mib(pid) for pid in descendants(process.pid))
                pss, private = pss_and_private_mib(serving_pid(process.pid))
                return Run(elapsed, tree, serving_rss(process.pid), pss, private)
            finally:
                stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", help="artifact (repeatable); default models/compact")
    parser.add_argument("--python", default=None, help=f"interpreter to serve with (default {SERVE_PYTHON} if any)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="requests before reading the memory")
    parser.add_argument("--state", choices=["new", "existing"], default="new", help="state directory per run")
    parser.add_argument("--png", type=Path, default=ROOT / "scripts" / "samples" / "digit-7.png")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    python = args.python
    if python is None:
        if SERVE_PYTHON.exists():
            python = str(SERVE_PYTHON)
        else:
            log.info("%s does not exist (make serve creates it): measuring with %s", SERVE_PYTHON, sys.executable)
            python = sys.executable
    version = subprocess.run(
        [python, "-c", "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    log.info(
        "interpreter %s (python %s), %d worker(s), %d requests before memory",
        python,
        version,
        args.workers,
        args.requests,
    )
    png = args.png.read_bytes()
    for model in args.model or [ROOT / "models" / "compact.safetensors"]:
        runs = []
        with tempfile.TemporaryDirectory() as shared:
            if args.state == "existing":
                one_run(python, model.resolve(), png, args.workers, 0, Path(shared))  # creates the database
            for index in range(args.runs):
                with tempfile.TemporaryDirectory() as fresh:
                    state = Path(shared if args.state == "existing" else fresh)
                    run = one_run(python, model.resolve(), png, args.workers, args.requests, state)
                runs.append(run)
                log.info(
                    "%-22s run %d: first 200 after %5.2f s  rss tree %6.1f MiB  serving process rss %6.1f "
                    "pss %6.1f private %6.1f MiB",
                    model.name,
                    index + 1,
                    run.seconds_to_first_200,
                    run.tree_rss_mib,
                    run.serving_rss_mib,
                    run.serving_pss_mib,
                    run.serving_private_mib,
                )
        log.info(
            "%-22s median: first 200 after %5.2f s  rss tree %6.1f MiB  serving process rss %6.1f "
            "pss %6.1f private %6.1f MiB  (load average %.2f)",
            model.name,
            statistics.median(r.seconds_to_first_200 for r in runs),
            statistics.median(r.tree_rss_mib for r in runs),
            statistics.median(r.serving_rss_mib for r in runs),
            statistics.median(r.serving_pss_mib for r in runs),
            statistics.median(r.serving_private_mib for r in runs),
            os.getloadavg()[0],
        )


if __name__ == "__main__":
    main()
