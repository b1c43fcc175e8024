"""CPU per /predict request inside the app, without HTTP: what our own code costs, in microseconds.

Drives the ASGI app (`create_app`, lifespan and all: middleware, fast path, batcher threads, model)
on a uvloop event loop with the same multipart request bench.throughput sends, from CONCURRENCY
tasks at once, and divides the process's CPU time (every thread) by the requests answered. The
same driver runs bench/ceiling_app.py's app, so the difference is our work per request, with
neither sockets nor HTTP parsing in it. CPU time is steadier than wall time on a shared machine,
though contention still inflates it somewhat. With `--profile FILE`, writes a cProfile of the
service's measured rounds.

    python -m bench.request_cost [--model models/mlp.safetensors] [--requests 20000] [--levels 1,64]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

from app.core.config import Settings
from app.main import create_app
from bench import ceiling_app

ROOT = Path(__file__).resolve().parents[1]
BOUNDARY = b"----anchorbenchboundary7d1f3a"  # as ../shared/bench/post.lua builds it
log = logging.getLogger("bench.request_cost")
App = Callable[[dict[str, Any], Any, Any], Coroutine[Any, Any, None]]


def multipart(png: bytes) -> bytes:
    return (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="digit.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--" + BOUNDARY + b"--\r\n"
    )


def request_scope(body: bytes) -> dict[str, Any]:
    """What uvicorn's httptools protocol passes for wrk's request."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"multipart/form-data; boundary=" + BOUNDARY),
        ],
        "state": {},
    }


async def one_request(app: App, scope: dict[str, Any], body: bytes) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


async def rounds(app: App, body: bytes, requests: int, concurrency: int) -> tuple[float, float]:
    """(CPU us, wall us) per request for REQUESTS requests from CONCURRENCY tasks."""
    scope = request_scope(body)
    per_task = max(1, requests // concurrency)

    async def client() -> None:
        for _ in range(per_task):
            status = await one_request(app, scope, body)
            if status != 200:
                raise RuntimeError(f"/predict answered {status}")

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    done = per_task * concurrency
    return (time.process_time() - cpu) / done * 1e6, (time.perf_counter() - wall) / done * 1e6


async def with_lifespan(app: App, work: Callable[[], Awaitable[None]]) -> None:
    """Start the app's lifespan (model, batcher threads), run WORK, shut it down."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            if message["type"] != "lifespan.startup.complete":
                raise RuntimeError(f"start-up failed: {message.get('message')}")
            started.set()
        elif message["type"].startswith("lifespan.shutdown"):
            stopped.set()

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    await started.wait()
    try:
        await work()
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await stopped.wait()
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "mlp.safetensors")
    parser.add_argument("--png", type=Path, default=ROOT / "scripts" / "samples" / "digit-7.png")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--levels", default="1,64")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per level; the median is printed")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the service's rounds here")
    args = parser.parse_args()
    # Not basicConfig: a root handler would print every access line the app's logger passes up.
    log.addHandler(logging.StreamHandler())
    log.setLevel(logging.INFO)
    log.propagate = False
    body = multipart(args.png.read_bytes())
    levels = [int(level) for level in args.levels.split(",")]

    async def run() -> None:
        with tempfile.TemporaryDirectory() as state:
            settings = Settings(model=args.model, state_dir=Path(state), workers=1, inference_workers=1)
            service = create_app(settings)
            # The access log goes where the server's stderr would (a file here, as under a supervisor).
            with open(os.devnull, "w") as sink:
                for handler in logging.getLogger("app").handlers:
                    if isinstance(handler, logging.StreamHandler):
                        handler.setStream(sink)
                await with_lifespan(service, lambda: measure_all(service, body, levels, args))

    uvloop.run(run())


async def measure_all(service: App, body: bytes, levels: list[int], args: argparse.Namespace) -> None:
    log.info(
        "model %s, %d requests per round, median of %d rounds, load1 %.2f",
        args.model.name,
        args.requests,
        args.repeats,
        os.getloadavg()[0],
    )
    profiler = cProfile.Profile() if args.profile else None
    await rounds(service, body, 2000, 8)  # warm-up: first-call costs, caches
    for concurrency in levels:
        ours, top = [], []
        for _ in range(args.repeats):
            top.append(await rounds(ceiling_app.app, body, args.requests, concurrency))
            if profiler is not None:
                profiler.enable()
            ours.append(await rounds(service, body, args.requests, concurrency))
            if profiler is not None:
                profiler.disable()
        cpu, wall = statistics.median(c for c, _ in ours), statistics.median(w for _, w in ours)
        top_cpu = statistics.median(c for c, _ in top)
        log.info(
            "c=%-3d service %7.1f us CPU/request (wall %6.1f us), bare ASGI app %5.1f us: our work %6.1f us",
            concurrency,
            cpu,
            wall,
            top_cpu,
            cpu - top_cpu,
        )
    if profiler is not None:
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
