"""/predict throughput against the naive FastAPI baseline, measured in one run.

Starts ../shared/bench/naive_app.py (the tutorial MLP behind a sync FastAPI endpoint) and this
service on free loopback ports, then for each concurrency level loads the baseline and this service
one after the other (interleaved, so machine noise hits both alike) with ../shared/bench/loadtest.sh
(wrk, multipart PNG). Prints req/s, p50, p99, errors and resident memory per level, and the ratios.
Needs wrk (Debian: apt-get install wrk).

This service runs as `python -m app` does, with the request-head and body limits of
app/api/http_protocol.py; `--unguarded` also loads the same app behind uvicorn's plain httptools
protocol, to show what those limits cost.

    python -m bench.throughput [--model models/mlp.safetensors] [--workers 2] [--levels 1,8,64] [--unguarded]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.local import descendants, free_port

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
log = logging.getLogger("bench.throughput")

# The anchors' best figures per level (req/s, p99 ms) and the ratio to the naive baseline that the
# same goal reads as, from the throughput issue.
TARGETS = {1: (800, 11.0, 1.05), 8: (2600, 8.3, 3.2), 64: (4300, 26.0, 5.5)}


@dataclass(frozen=True)
class Level:
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rss_mib: float  # largest resident set of one serving process, after the load


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return 0.0
    match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def serving_rss(pid: int) -> float:
    """The largest RSS among the processes that answer requests (a supervisor alone answers none)."""
    tree = descendants(pid)
    serving = tree[1:] if len(tree) > 1 else tree
    return max(rss_mib(p) for p in serving)


@contextmanager
def server(command: list[str], cwd: Path, port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_up(port, process, output)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_up(port: int, process: subprocess.Popen[bytes], output: object) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not come up")


def load(url: str, png: Path, concurrency: int, seconds: int, warmup: int, label: str, raw: bool) -> dict[str, str]:
    command = [
        str(SHARED_BENCH / "loadtest.sh"),
        "--url",
        url,
        "--png",
        str(png),
        "--concurrency",
        str(concurrency),
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
        "--label",
        label,
    ]
    command += ["--raw"] if raw else ["--field", "file"]
    output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    line = next((row for row in output.splitlines() if row.startswith("label=")), "")
    if "rps=" not in line:
        raise RuntimeError(f"load test failed: {output.strip() or 'no output'}")
    return dict(field.split("=", 1) for field in line.split() if "=" in field)


def measure(url: str, png: Path, c: int, args: argparse.Namespace, label: str, pid: int, raw: bool = False) -> Level:
    fields = load(url, png, c, args.seconds, args.warmup, label, raw)
    errors = sum(int(fields[key]) for key in ("non2xx", "connect_err", "read_err", "write_err", "timeouts"))
    return Level(c, float(fields["rps"]), float(fields["p50_ms"]), float(fields["p99_ms"]), errors, serving_rss(pid))


def row(name: str, level: Level, naive: Level | None = None) -> str:
    ratio = f"{level.rps / naive.rps:5.2f}x" if naive else "     -"
    return (
        f"{name:<22} c={level.concurrency:<3} {level.rps:8.0f} req/s  p50 {level.p50_ms:7.2f} ms  "
        f"p99 {level.p99_ms:7.2f} ms  errors {level.errors:<4} rss {level.rss_mib:6.0f} MiB  {ratio}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "mlp.safetensors")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("DIGITS_WORKERS", "1")))
    parser.add_argument("--levels", default="1,8,64")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--png", type=Path, default=ROOT / "scripts" / "samples" / "digit-7.png")
    parser.add_argument("--raw", action="store_true", help="also load this service with the raw-body upload")
    parser.add_argument(
        "--unguarded", action="store_true", help="also load the app behind plain httptools (no head/body limits)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    naive_port, our_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    naive_cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "naive_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(naive_port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with tempfile.TemporaryDirectory() as state:
        our_env = {
            **env,
            "DIGITS_MODEL": str(args.model),
            "DIGITS_STATE_DIR": state,
            "DIGITS_WORKERS": str(args.workers),
            "DIGITS_HOST": "127.0.0.1",
            "DIGITS_PORT": str(our_port),
        }
        # What `python -m app` (make serve, the image) runs: the guarded protocol.
        our_cmd = [sys.executable, "-m", "app"]
        plain_port = free_port()
        # The same uvicorn.run call as app/__main__.py, with uvicorn's plain httptools protocol.
        plain_cmd = [
            sys.executable,
            "-c",
            f"import uvicorn; uvicorn.run('app.main:app', host='127.0.0.1', port={plain_port}, "
            f"workers={args.workers}, access_log=False, http='httptools', loop='uvloop')",
        ]
        with (
            server(naive_cmd, SHARED_BENCH, naive_port, env) as naive,
            server(our_cmd, ROOT, our_port, our_env) as ours,
            contextlib.ExitStack() as optional,
        ):
            plain = optional.enter_context(server(plain_cmd, ROOT, plain_port, our_env)) if args.unguarded else None
            log.info(
                "model %s, %d worker process(es), %d CPUs, %ds per level after %ds warm-up",
                args.model.name,
                args.workers,
                os.cpu_count() or 0,
                args.seconds,
                args.warmup,
            )
            verdicts = []
            for c in (int(level) for level in args.levels.split(",")):
                base = measure(f"http://127.0.0.1:{naive_port}/predict", args.png, c, args, "naive", naive.pid)
                if plain is not None:
                    # Measured between the baseline and this service: whichever comes right after the
                    # baseline inherits the tail of its backlog at high concurrency.
                    unguarded = measure(
                        f"http://127.0.0.1:{plain_port}/predict", args.png, c, args, "unguarded", plain.pid
                    )
                mine = measure(f"http://127.0.0.1:{our_port}/predict", args.png, c, args, "digit-service", ours.pid)
                log.info(row("naive FastAPI", base))
                log.info(row("digit-service", mine, base))
                if plain is not None:
                    log.info(row("plain httptools", unguarded, base))
                    verdicts.append(
                        f"c={c}: limits cost {100 * (1 - mine.rps / unguarded.rps):+.1f}% req/s, "
                        f"p99 {mine.p99_ms:.2f} ms vs {unguarded.p99_ms:.2f} ms"
                    )
                if args.raw:
                    raw = measure(f"http://127.0.0.1:{our_port}/predict", args.png, c, args, "raw", ours.pid, True)
                    log.info(row("digit-service raw body", raw, base))
                if c in TARGETS:
                    rps_goal, p99_goal, ratio_goal = TARGETS[c]
                    met = mine.rps / base.rps >= ratio_goal and mine.p99_ms <= p99_goal and mine.errors == 0
                    verdicts.append(
                        f"c={c}: {mine.rps / base.rps:.2f}x (goal {ratio_goal}x), p99 {mine.p99_ms:.1f} ms "
                        f"(goal <= {p99_goal}), {mine.rps:.0f} req/s (anchor goal {rps_goal}): "
                        f"{'met' if met else 'not met'}"
                    )
            for verdict in verdicts:
                log.info(verdict)


if __name__ == "__main__":
    main()
