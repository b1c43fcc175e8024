"""/predict throughput against the naive FastAPI baseline and the HTTP ceiling, measured in one run.

Starts ../shared/bench/naive_app.py (the tutorial MLP behind a sync FastAPI endpoint), this service,
and bench/ceiling_app.py (a bare ASGI app on the service's own server setup that reads the same
multipart body and answers a fixed JSON of the size of the service's answer: what the HTTP stack
alone allows) on free loopback ports. For each concurrency level it loads them one after the other
(interleaved, so machine noise hits all alike) with ../shared/bench/loadtest.sh (wrk, multipart
PNG). Prints req/s, p50, p99, errors, resident memory and the servers' CPU time per request per
level, with the ratios to the baseline, to the ceiling and to the first model. Needs wrk (Debian: apt-get install wrk).

This service runs as `python -m app` does, with the request-head and body limits of
app/api/http_protocol.py; `--unguarded` also loads the same app behind uvicorn's plain httptools
protocol, to show what those limits cost. `--compare ARTIFACT` also serves a second model (e.g. the
default cnn beside the mlp) in its own `python -m app`, loaded in the same rounds.

    python -m bench.throughput [--model models/mlp.safetensors] [--compare models/compact.safetensors]
        [--workers 2] [--levels 1,8,64] [--unguarded] [--raw]
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

from bench.local import descendants, free_port, stop

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
log = logging.getLogger("bench.throughput")

# The anchors' best figures per level (req/s, p99 ms) and the ratio to the naive baseline that the
# same goal reads as, from the throughput issue.
TARGETS = {1: (800, 11.0, 1.05), 8: (2600, 8.3, 3.2), 64: (4300, 26.0, 5.5)}
# Issue 12 ("close to the machine"): at c=64 the first model at least this share of the ceiling's
# req/s with p99 at most this; the compared model at least this share of the first model's req/s at
# every level, with p99 at most this at c=64.
CEILING_SHARE, CEILING_P99_MS = 0.4, 10.0
COMPARE_SHARE, COMPARE_P99_MS = 0.7, 20.0


@dataclass(frozen=True)
class Level:
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rss_mib: float  # largest resident set of one serving process, after the load
    # CPU time of the server's process tree during the measured window, per request answered: on a
    # shared machine req/s swings with the neighbours' load, this much less.
    cpu_us: float = 0.0


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
            stop(process)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of PID and every process below it."""
    total = 0
    for member in descendants(pid):
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, timeout: float = 15.0) -> None:
    """Wait until PID's process tree stops using CPU: the naive baseline keeps working through its
    backlog after wrk stops at high concurrency, and that must not land on the next server's turn."""
    deadline = time.monotonic() + timeout
    used = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        if now - used < 0.025:  # under 10% of a core over the last quarter second
            return
        used = now


def answer_size(port: int, png: Path) -> int:
    """Bytes of this service's /predict answer for PNG, as multipart `file`."""
    reply = httpx.post(
        f"http://127.0.0.1:{port}/predict", files={"file": ("digit.png", png.read_bytes(), "image/png")}, timeout=30
    )
    reply.raise_for_status()
    return len(reply.content)


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
    if args.warmup:
        # The warm-up as a run of its own (loadtest.sh's own would fall inside the CPU window below),
        # then loadtest.sh's pause for requests orphaned by its closed connections.
        load(url, png, c, args.warmup, 0, label, raw)
        time.sleep(1)
    cpu = cpu_seconds(pid)
    fields = load(url, png, c, args.seconds, 0, label, raw)
    cpu = cpu_seconds(pid) - cpu
    errors = sum(int(fields[key]) for key in ("non2xx", "connect_err", "read_err", "write_err", "timeouts"))
    requests = int(fields["requests"])
    return Level(
        c,
        float(fields["rps"]),
        float(fields["p50_ms"]),
        float(fields["p99_ms"]),
        errors,
        serving_rss(pid),
        cpu / requests * 1e6 if requests else 0.0,
    )


def _ratio(level: Level, other: Level | None) -> str:
    return f"{level.rps / other.rps:6.2f}x" if other is not None and other.rps > 0 else "      -"


def row(
    name: str, level: Level, naive: Level | None = None, ceiling: Level | None = None, first: Level | None = None
) -> str:
    """One line: the figures, then the ratios of req/s to the naive baseline, the ceiling and the first model."""
    return (
        f"{name:<24} c={level.concurrency:<3} {level.rps:8.0f} req/s  p50 {level.p50_ms:7.2f} ms  "
        f"p99 {level.p99_ms:7.2f} ms  errors {level.errors:<4} rss {level.rss_mib:6.0f} MiB  "
        f"cpu {level.cpu_us:6.0f} us/req  {_ratio(level, naive)} {_ratio(level, ceiling)} {_ratio(level, first)}"
    )


def app_command() -> list[str]:
    return [sys.executable, "-m", "app"]


def service_env(env: dict[str, str], model: Path, state: str, workers: int, port: int) -> dict[str, str]:
    return {
        **env,
        "DIGITS_MODEL": str(model),
        "DIGITS_STATE_DIR": state,
        "DIGITS_WORKERS": str(workers),
        "DIGITS_HOST": "127.0.0.1",
        "DIGITS_PORT": str(port),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "mlp.safetensors")
    parser.add_argument("--compare", type=Path, help="a second artifact, served and loaded in the same run")
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

    naive_port, our_port, ceiling_port = free_port(), free_port(), free_port()
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
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as compare_state:
        # What `python -m app` (make serve, the image) runs: the guarded protocol.
        our_env = service_env(env, args.model, state, args.workers, our_port)
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
            server(app_command(), ROOT, our_port, our_env) as ours,
            contextlib.ExitStack() as optional,
        ):
            # The ceiling's fixed answer is as long as this service's real one for the same PNG.
            size = answer_size(our_port, args.png)
            ceiling_env = {
                **service_env(env, args.model, state, args.workers, ceiling_port),
                "DIGITS_CEILING_BYTES": str(size),
            }
            ceiling = optional.enter_context(
                server([sys.executable, "-m", "bench.ceiling_app"], ROOT, ceiling_port, ceiling_env)
            )
            plain = optional.enter_context(server(plain_cmd, ROOT, plain_port, our_env)) if args.unguarded else None
            compare = None
            if args.compare is not None:
                compare_port = free_port()
                compare_env = service_env(env, args.compare, compare_state, args.workers, compare_port)
                compare = optional.enter_context(server(app_command(), ROOT, compare_port, compare_env))
            log.info(
                "model %s%s, %d worker process(es), %d CPUs, %ds per level after %ds warm-up; "
                "ceiling answers %d bytes; load1 %.2f at start",
                args.model.name,
                f" (compared: {args.compare.name})" if args.compare else "",
                args.workers,
                os.cpu_count() or 0,
                args.seconds,
                args.warmup,
                size,
                os.getloadavg()[0],
            )
            log.info(
                "last three columns: req/s as a share of the naive baseline's, the ceiling's and %s's", args.model.stem
            )
            verdicts = []
            for c in (int(level) for level in args.levels.split(",")):
                base = measure(f"http://127.0.0.1:{naive_port}/predict", args.png, c, args, "naive", naive.pid)
                wait_idle(naive.pid)
                top = measure(f"http://127.0.0.1:{ceiling_port}/predict", args.png, c, args, "ceiling", ceiling.pid)
                if plain is not None:
                    unguarded = measure(
                        f"http://127.0.0.1:{plain_port}/predict", args.png, c, args, "unguarded", plain.pid
                    )
                mine = measure(f"http://127.0.0.1:{our_port}/predict", args.png, c, args, "digit-service", ours.pid)
                other = (
                    measure(f"http://127.0.0.1:{compare_port}/predict", args.png, c, args, "compare", compare.pid)
                    if compare is not None
                    else None
                )
                log.info(row("naive FastAPI", base, base, top, mine))
                log.info(row("HTTP ceiling", top, base, top, mine))
                log.info(row(f"digit-service {args.model.stem}", mine, base, top, mine))
                if other is not None and args.compare is not None:
                    log.info(row(f"digit-service {args.compare.stem}", other, base, top, mine))
                if plain is not None:
                    log.info(row("plain httptools", unguarded, base, top, mine))
                    verdicts.append(
                        f"c={c}: limits cost {100 * (1 - mine.rps / unguarded.rps):+.1f}% req/s, "
                        f"p99 {mine.p99_ms:.2f} ms vs {unguarded.p99_ms:.2f} ms"
                    )
                if args.raw:
                    raw = measure(f"http://127.0.0.1:{our_port}/predict", args.png, c, args, "raw", ours.pid, True)
                    log.info(row("digit-service raw body", raw, base, top, mine))
                verdicts += goals(c, base, top, mine, other, args)
            for verdict in verdicts:
                log.info(verdict)


def goals(c: int, base: Level, top: Level, mine: Level, other: Level | None, args: argparse.Namespace) -> list[str]:
    """The verdicts of this level against the throughput issue's and issue 12's goals."""
    verdicts = []
    if c in TARGETS:
        rps_goal, p99_goal, ratio_goal = TARGETS[c]
        met = mine.rps / base.rps >= ratio_goal and mine.p99_ms <= p99_goal and mine.errors == 0
        verdicts.append(
            f"c={c}: {mine.rps / base.rps:.2f}x naive (goal {ratio_goal}x), p99 {mine.p99_ms:.1f} ms "
            f"(goal <= {p99_goal}), {mine.rps:.0f} req/s (anchor goal {rps_goal}): "
            f"{'met' if met else 'not met'}"
        )
    if top.cpu_us and mine.cpu_us:
        verdicts.append(
            f"c={c}: CPU per request: ceiling {top.cpu_us:.0f} us, {args.model.stem} {mine.cpu_us:.0f} us, so our "
            f"work {mine.cpu_us - top.cpu_us:.0f} us; where CPU is the limit that reads as "
            f"{top.cpu_us / mine.cpu_us:.2f}x the ceiling's req/s"
        )
    if c == 64:
        met = mine.rps >= CEILING_SHARE * top.rps and mine.p99_ms <= CEILING_P99_MS and mine.errors == 0
        verdicts.append(
            f"c={c}: {args.model.stem} {mine.rps / top.rps:.2f}x the ceiling (goal >= {CEILING_SHARE}x), "
            f"p99 {mine.p99_ms:.1f} ms (goal <= {CEILING_P99_MS}): {'met' if met else 'not met'}"
        )
    if other is not None and args.compare is not None:
        met = other.rps >= COMPARE_SHARE * mine.rps and other.errors == 0
        p99_note = ""
        if c == 64:
            met = met and other.p99_ms <= COMPARE_P99_MS
            p99_note = f", p99 {other.p99_ms:.1f} ms (goal <= {COMPARE_P99_MS})"
        cpu_note = f"; by CPU per request {mine.cpu_us / other.cpu_us:.2f}x" if other.cpu_us else ""
        verdicts.append(
            f"c={c}: {args.compare.stem} {other.rps / mine.rps:.2f}x {args.model.stem} "
            f"(goal >= {COMPARE_SHARE}x){p99_note}: {'met' if met else 'not met'}{cpu_note}"
        )
    return verdicts


if __name__ == "__main__":
    main()
