"""Soak: `python -m app` under steady load with bad inputs mixed in, for minutes.

64 concurrent clients (by default) send a rotating mix: digits as multipart, as raw bodies and in
batches with a broken image inside; corrupt, truncated, empty and non-image uploads; bodies over
the size limit; a decompression bomb; a request over the decode budget; a float TIFF full of NaN;
bad query parameters; health checks; and now and then a client that sends half a body and hangs
up. Every kind has the status it must get; anything else counts as an unexpected status.

Prints, per interval: requests, unexpected statuses, transport errors, p50/p99 latency and the
server's resident memory; then the totals and the memory at the start (after a warm-up) and at
the end. Goal: 0 unexpected statuses, memory flat within 10%.

    python -m bench.soak [--duration 600] [--concurrency 64] [--interval 30] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.local import descendants, free_port, stop
from bench.throughput import rss_mib

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.soak")
MAX_UPLOAD = 5 * 1024 * 1024


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _digit(seed: int) -> bytes:
    pixels = np.zeros((28, 28), np.uint8)
    rng = np.random.default_rng(seed)
    pixels[rng.integers(4, 10) : rng.integers(18, 24), 12:16] = 255
    return _png(Image.fromarray(pixels))


def _nan_tiff() -> bytes:
    pixels = np.full((28, 28), np.nan, np.float32)
    pixels[10:14] = np.inf
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="F").save(buffer, format="TIFF")
    return buffer.getvalue()


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Kind:
    """One kind of request and the statuses it may get."""

    name: str
    send: Request | Callable[[int], Awaitable[int]]
    expected: frozenset[int]
    raw_socket: bool = False  # send(port) -> status, over a socket of its own


def kinds() -> list[Kind]:
    digits = [_digit(seed) for seed in range(8)]
    truncated = digits[0][:-40]  # header intact, pixel data cut short
    bomb = _png(Image.new("1", (9000, 9000)))  # 81 MP in a few kB: over the per-image limit
    giant = _png(Image.new("L", (6300, 6300)))  # 40 MP each, under the image limit
    nan = _nan_tiff()
    png = "image/png"

    def multipart(data: bytes, field: str = "file") -> Request:
        return lambda c: c.post("/predict", files=[(field, ("d.png", data, png))])

    def raw(data: bytes, media: str = png) -> Request:
        return lambda c: c.post("/predict", content=data, headers={"content-type": media})

    batch_files = [("files", (f"{i}.png", d, png)) for i, d in enumerate(digits[:3])] + [
        ("files", ("bad.png", truncated, png))
    ]
    return [
        Kind("digit", multipart(digits[1]), frozenset({200})),
        Kind("digit-raw", raw(digits[2]), frozenset({200})),
        Kind("digit", multipart(digits[3]), frozenset({200})),
        Kind("batch+bad", lambda c: c.post("/predict", files=batch_files), frozenset({200})),
        Kind("truncated", multipart(truncated), frozenset({400})),
        Kind("empty", raw(b"", "application/octet-stream"), frozenset({400, 422})),
        Kind("not-an-image", multipart(b"%PDF-1.4 not an image"), frozenset({415})),
        Kind("text/plain", raw(b"hello", "text/plain"), frozenset({415})),
        Kind("too-large", declare_too_large, frozenset({413}), raw_socket=True),
        Kind("bomb", multipart(bomb), frozenset({413})),
        Kind(
            "over-budget", lambda c: c.post("/predict", files=[("files", ("g.png", giant, png))] * 3), frozenset({413})
        ),
        Kind("nan-tiff", raw(nan, "image/tiff"), frozenset({400})),
        Kind("bad-query", lambda c: c.post("/predict?preprocess=nope", content=digits[4]), frozenset({422})),
        Kind("bad-scale", lambda c: c.post("/predict/frame?scale=%C2%B2", content=digits[5]), frozenset({422})),
        Kind("health", lambda c: c.get("/health"), frozenset({200})),
        Kind(
            "frame",
            lambda c: c.post("/predict/frame", content=digits[6], headers={"content-type": png}),
            frozenset({200}),
        ),
    ]


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    unexpected: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    abandoned: int = 0


def tree_rss_mib(pid: int) -> float:
    """Resident memory of the server and every process below it, together."""
    return sum(rss_mib(process) for process in descendants(pid))


async def declare_too_large(port: int) -> int:
    """A body over the limit, announced by Content-Length: the 413 must come before any of it is sent
    (a client that waits for it; one that pushed 5 MiB regardless would see its write cut off)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /predict HTTP/1.1\r\nHost: soak\r\nContent-Type: image/png\r\n"
        + b"Content-Length: %d\r\n\r\n" % (MAX_UPLOAD + 1)
    )
    await writer.drain()
    answer = await reader.read()  # the server closes after answering
    writer.close()
    await writer.wait_closed()
    return int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else 0


async def abandon(port: int) -> None:
    """Half a body, then hang up: the server must drop it (no answer, nothing processed)."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /predict HTTP/1.1\r\nHost: soak\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n")
    writer.write(b"\x89PNG" + b"\0" * 1000)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client_loop(
    client: httpx.AsyncClient, port: int, mix: list[Kind], offset: int, deadline: float, window: list[Window]
) -> None:
    for step in itertools.count(offset):
        if time.monotonic() >= deadline:
            return
        if step % 97 == 0:
            await abandon(port)
            window[0].abandoned += 1
            continue
        kind = mix[step % len(mix)]
        started = time.perf_counter()
        try:
            if kind.raw_socket:
                status = await kind.send(port)  # type: ignore[arg-type]
            else:
                status = (await kind.send(client)).status_code  # type: ignore[arg-type,union-attr]
        except (httpx.HTTPError, OSError):
            window[0].transport_errors += 1
            continue
        window[0].latencies.append(time.perf_counter() - started)
        if status not in kind.expected:
            window[0].unexpected[f"{kind.name}:{status}"] += 1


async def soak(port: int, pid: int, args: argparse.Namespace) -> int:
    mix = kinds()
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:
        window = [Window()]
        warm_deadline = time.monotonic() + args.warmup
        await asyncio.gather(*(client_loop(client, port, mix, i, warm_deadline, window) for i in range(8)))
        rss_start = tree_rss_mib(pid)
        log.info(
            "after %ds warm-up: rss %.0f MiB; %d clients for %ds",
            args.warmup,
            rss_start,
            args.concurrency,
            args.duration,
        )
        window[0] = Window()
        deadline = time.monotonic() + args.duration
        tasks = [
            asyncio.create_task(client_loop(client, port, mix, i * 7, deadline, window))
            for i in range(args.concurrency)
        ]
        totals = Window()

        def take(current: Window) -> None:
            totals.latencies += current.latencies
            totals.unexpected += current.unexpected
            totals.transport_errors += current.transport_errors
            totals.abandoned += current.abandoned

        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(args.interval, remaining))
            current, window[0] = window[0], Window()
            elapsed = round(args.duration - max(0.0, deadline - time.monotonic()))
            report(f"t={elapsed:>4}s", current, args.interval, tree_rss_mib(pid))
            take(current)
        await asyncio.gather(*tasks)
        take(window[0])  # requests that were in flight at the deadline
    await asyncio.sleep(2)  # let the server finish what it was given
    rss_end = tree_rss_mib(pid)
    report("total  ", totals, args.duration, rss_end)
    growth = 100 * (rss_end - rss_start) / rss_start
    unexpected = sum(totals.unexpected.values())
    log.info("unexpected statuses: %d %s", unexpected, dict(totals.unexpected) or "")
    log.info("transport errors: %d; abandoned bodies sent: %d", totals.transport_errors, totals.abandoned)
    log.info("rss start %.0f MiB, end %.0f MiB: %+.1f%% (goal within 10%%)", rss_start, rss_end, growth)
    met = unexpected == 0 and totals.transport_errors == 0 and abs(growth) <= 10
    log.info("goal (0 unexpected statuses, memory flat within 10%%): %s", "met" if met else "NOT met")
    return 0 if met else 1


def report(label: str, window: Window, seconds: float, rss: float) -> None:
    latencies = np.array(window.latencies or [0.0]) * 1000
    log.info(
        "%s %7d req %7.0f req/s  p50 %7.2f ms  p99 %8.2f ms  unexpected %-4d transport errors %-4d rss %6.0f MiB",
        label,
        len(window.latencies),
        len(window.latencies) / max(seconds, 1e-9),
        float(np.percentile(latencies, 50)),
        float(np.percentile(latencies, 99)),
        sum(window.unexpected.values()),
        window.transport_errors,
        rss,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=600, help="seconds of load (default 600)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--interval", type=int, default=30, help="seconds per report line")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "compact.safetensors")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    port = free_port()
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryFile() as output:
        env = {
            **os.environ,
            "DIGITS_MODEL": str(args.model),
            "DIGITS_STATE_DIR": state,
            "DIGITS_WORKERS": str(args.workers),
            "DIGITS_HOST": "127.0.0.1",
            "DIGITS_PORT": str(port),
            "DIGITS_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        }
        process = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=output, stderr=output)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            log.info("python -m app, %d worker(s), model %s, %d CPUs", args.workers, args.model.name, os.cpu_count())
            code = asyncio.run(soak(port, process.pid, args))
        finally:
            stop(process)
        output.seek(0)
        tracebacks = output.read().decode(errors="replace").count("Traceback")
        log.info("tracebacks in the server log: %d", tracebacks)
    raise SystemExit(code if tracebacks == 0 else 1)


if __name__ == "__main__":
    main()
