"""What the request-head and body limits (app/api/http_protocol.py) cost per request, without the
noise of a shared machine's network load: the same keep-alive connection fed the same multipart
/predict request through uvicorn's plain HttpToolsProtocol and through GuardedHttpToolsProtocol, in
alternating rounds on one event loop, with an ASGI app that reads the body and answers at once.

    python -m bench.protocol_cost [--requests 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.api.http_protocol import ConnectionLimits, GuardedHttpToolsProtocol
from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.protocol_cost")


async def answer_at_once(scope: Any, receive: Any, send: Any) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


class Transport:
    """Enough of asyncio.Transport for the protocol: counts what is written."""

    def __init__(self) -> None:
        self.responses = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        if data.startswith(b"HTTP/1.1"):
            self.responses += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name in ("sockname", "peername") else default

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def set_protocol(self, protocol: Any) -> None: ...


def request_bytes() -> bytes:
    png = (ROOT / "scripts" / "samples" / "digit-7.png").read_bytes()
    boundary = b"bench0boundary"
    body = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="d.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--" + boundary + b"--\r\n"
    )
    head = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: bench\r\nAccept: */*\r\n"
        b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head + body


async def per_request_us(protocol_class: type[HttpToolsProtocol], requests: int, data: bytes) -> float:
    config = Config(app=answer_at_once, lifespan="off", access_log=False)
    config.load()
    loop = asyncio.get_running_loop()
    if protocol_class is GuardedHttpToolsProtocol:
        limits = ConnectionLimits.from_settings(Settings())
        protocol: HttpToolsProtocol = GuardedHttpToolsProtocol(config, ServerState(), {}, loop, limits=limits)
    else:
        protocol = protocol_class(config, ServerState(), {}, loop)
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    started = time.perf_counter()
    for _ in range(requests):
        expected = transport.responses + 1
        protocol.data_received(data)
        while transport.responses < expected:
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    protocol.connection_lost(None)
    return elapsed / requests * 1e6


async def run(args: argparse.Namespace) -> None:
    data = request_bytes()
    plain, guarded = [], []
    for _ in range(args.rounds):
        plain.append(await per_request_us(HttpToolsProtocol, args.requests, data))
        guarded.append(await per_request_us(GuardedHttpToolsProtocol, args.requests, data))
    # The least disturbed round of each is the steadier figure on a shared machine; medians beside it.
    p, g = min(plain), min(guarded)
    pm, gm = statistics.median(plain), statistics.median(guarded)
    log.info(f"{len(data)}-byte multipart request, {args.requests} per round, {args.rounds} rounds (best round)")
    log.info(f"plain httptools:   {p:6.2f} us/request  (rounds: {', '.join(f'{x:.2f}' for x in plain)})")
    log.info(f"guarded httptools: {g:6.2f} us/request  (rounds: {', '.join(f'{x:.2f}' for x in guarded)})")
    log.info(f"limits cost {g - p:+.2f} us/request ({100 * (g / p - 1):+.1f}% of the protocol + minimal app)")
    log.info(f"medians: {pm:.2f} vs {gm:.2f} us/request ({gm - pm:+.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
