"""Hostile clients against a real `python -m app` over raw sockets: huge and slow request heads, slow
and abandoned bodies, oversize chunked bodies, too many uploads at once. Counts and times are
bounded; the limits are shrunk through the same DIGITS_* variables an operator would set."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import png_bytes
from tests.live import LiveServer, live_server

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_UPLOADS = 3
DIGIT = png_bytes(np.eye(28, dtype=np.uint8) * 255)
# How long a refusal may take beyond its timeout on a busy 2-core machine.
SLACK = 4.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "DIGITS_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "DIGITS_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "DIGITS_BODY_MIN_RATE": "1000",
        "DIGITS_MAX_UPLOADS_IN_FLIGHT": str(MAX_UPLOADS),
        "DIGITS_MAX_UPLOAD_BYTES": str(4 * 1024 * 1024),
    }
    with live_server(tmp_path_factory.mktemp("hostile"), env) as live:
        yield live


def connect(server: LiveServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received, time.monotonic() - started


def rss_mib(server: LiveServer) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match
    return int(match.group(1)) / 1024


def predict_ok(server: LiveServer) -> None:
    response = httpx.post(f"{server.url}/predict", files={"file": ("d.png", DIGIT, "image/png")}, timeout=10)
    assert response.status_code == 200, response.text


def metric(server: LiveServer, labels: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    match = re.search(r"^digits_http_requests_total\{" + re.escape(labels) + r"\} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_huge_request_head_is_refused_while_it_streams(server: LiveServer) -> None:
    before = rss_mib(server)
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    line = b"X-Filler: " + b"a" * 990 + b"\r\n"
    sent = 0
    try:
        for _ in range(64 * 1024):  # up to 64 MiB of header lines; the server must stop us long before
            sock.sendall(line)
            sent += len(line)
    except (BrokenPipeError, ConnectionResetError):
        pass
    received, _ = read_until_closed(sock, 10)
    sock.close()
    assert sent < 8 * 1024 * 1024, "the server kept reading header lines"
    if received:  # the answer can be lost when the kernel resets a socket we were still writing to
        assert received.startswith(b"HTTP/1.1 431"), received[:200]
        assert b"connection: close" in received.lower()
    assert rss_mib(server) - before < 50
    predict_ok(server)


def test_too_many_header_lines_are_refused(server: LiveServer) -> None:
    sock = connect(server)
    lines = b"".join(b"X-H%d: 1\r\n" % i for i in range(150))
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n")
    received, _ = read_until_closed(sock, 10)
    sock.close()
    assert received.startswith(b"HTTP/1.1 431"), received[:200]
    assert b"more than 100 header lines" in received


def test_slowloris_heads_and_silent_connections_are_closed(server: LiveServer) -> None:
    """60 connections send a request head a byte every 0.2 s, 20 send nothing: all are closed within
    the header timeout, with a 408, and the server answers others meanwhile."""
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 10\r\n"
    with contextlib.ExitStack() as stack:
        slow = [stack.enter_context(connect(server)) for _ in range(60)]
        silent = [stack.enter_context(connect(server)) for _ in range(20)]
        started = time.monotonic()
        closed: set[int] = set()
        position = 0
        while len(closed) < len(slow) and time.monotonic() - started < HEADER_TIMEOUT + SLACK:
            for index, sock in enumerate(slow):
                if index in closed:
                    continue
                try:
                    sock.sendall(head[position % len(head) : position % len(head) + 1])
                except OSError:
                    closed.add(index)
            position += 1
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        predict_ok(server)
        answers = [read_until_closed(sock, SLACK)[0] for sock in slow + silent]
    assert elapsed < HEADER_TIMEOUT + SLACK
    # Every connection was closed (read_until_closed returned); the 408 itself can be lost when the
    # close races one of our bytes and the kernel resets the connection instead.
    timed_out = [answer for answer in answers if answer.startswith(b"HTTP/1.1 408")]
    assert len(timed_out) >= len(answers) // 2, {a[:40] for a in answers}
    assert all(answer in timed_out or not answer for answer in answers)


def test_stalled_bodies_are_cut_off_and_freed_not_processed(server: LiveServer) -> None:
    """30 uploads send all but one byte of 1 MiB and stall (uploads beyond the cap are refused at
    once): each is cut off after the body timeout, its memory freed, and none is answered 200."""
    ok_before = metric(server, 'method="POST",route="/predict",status="200"')
    before = rss_mib(server)
    body = b"\x89PNG" + b"\0" * (1024 * 1024 - 4)
    with contextlib.ExitStack() as stack:
        socks = []
        for _ in range(30):
            sock = stack.enter_context(connect(server))
            sock.settimeout(5)
            with contextlib.suppress(OSError):  # a refused upload may be closed while we still send
                sock.sendall(
                    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                    + b"Content-Length: %d\r\n\r\n" % (len(body) + 1)
                    + body
                )
            socks.append(sock)
        predict_ok(server)  # small uploads are not held up by stalled ones, nor refused for them
        started = time.monotonic()
        answers = [read_until_closed(sock, BODY_TIMEOUT + SLACK)[0] for sock in socks]
        elapsed = time.monotonic() - started
    statuses = sorted(answer[9:12] for answer in answers)
    assert set(statuses) <= {b"408", b"503"}, statuses
    assert statuses.count(b"503") >= 30 - MAX_UPLOADS  # over the cap: refused without reading
    assert elapsed < BODY_TIMEOUT + SLACK
    assert rss_mib(server) - before < 50
    assert metric(server, 'method="POST",route="/predict",status="200"') == ok_before + 1  # only predict_ok
    assert metric(server, 'method="POST",route="/predict",status="503"') >= 30 - MAX_UPLOADS


def test_a_body_trickling_below_the_minimum_rate_is_cut_off(server: LiveServer) -> None:
    sock = connect(server)
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n")
    started = time.monotonic()
    try:
        while time.monotonic() - started < BODY_TIMEOUT + SLACK:
            sock.sendall(b"x" * 10)  # 20 bytes/s: never idle for a second, far below 1000 bytes/s
            time.sleep(0.5)
    except OSError:
        pass
    received, _ = read_until_closed(sock, SLACK)
    sock.close()
    assert time.monotonic() - started < BODY_TIMEOUT + 2 * SLACK
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert b"slower than 1000 bytes/s" in received


def test_a_client_that_disconnects_mid_body_gets_nothing_processed(server: LiveServer) -> None:
    ok_before = metric(server, 'method="POST",route="/predict",status="200"')
    gone_before = metric(server, 'method="POST",route="/predict",status="499"')
    sock = connect(server)
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        + b"Content-Length: %d\r\n\r\n" % (len(DIGIT) + 5000)
        + DIGIT
    )
    time.sleep(0.3)
    sock.close()
    deadline = time.monotonic() + 10
    while metric(server, 'method="POST",route="/predict",status="499"') == gone_before:
        assert time.monotonic() < deadline, "the abandoned request was never accounted for"
        time.sleep(0.1)
    assert metric(server, 'method="POST",route="/predict",status="200"') == ok_before
    assert "POST /predict 499" in server.log_text()


def test_oversize_chunked_body_gets_413_and_the_connection_closes(server: LiveServer) -> None:
    sock = connect(server)
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
    sent = 0
    try:
        for _ in range(1024):  # 64 MiB offered
            sock.sendall(chunk)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    received, _ = read_until_closed(sock, 10)
    sock.close()
    assert sent < 16 * 1024 * 1024, "the server kept reading a body it had refused"
    if received:
        assert received.startswith(b"HTTP/1.1 413"), received[:200]
        assert b"connection: close" in received.lower()


def test_errors_that_leave_the_body_unread_close_the_connection(server: LiveServer) -> None:
    """Answered without reading the body (unknown path, wrong method): closed at once, not after
    the body timeout, and nothing more is written."""
    for request, status in (
        (b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc", b"404"),
        (b"PUT /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc", b"405"),
    ):
        sock = connect(server)
        sock.sendall(request)
        received, elapsed = read_until_closed(sock, 10)
        sock.close()
        assert received[9:12] == status, received[:200]
        assert b"connection: close" in received.lower()
        assert received.count(b"HTTP/1.1 ") == 1
        assert elapsed < BODY_TIMEOUT


def test_a_content_length_with_thousands_of_digits_is_a_client_error(server: LiveServer) -> None:
    sock = connect(server)
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n")
    received, _ = read_until_closed(sock, 10)
    sock.close()
    assert received[9:10] == b"4", received[:200]
    predict_ok(server)
